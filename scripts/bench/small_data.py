"""Small data: what weight averaging and a validation-chosen stop would do to the arrays_mlp recipe.

A study of method, not one of lit-dl's goals. The quality benchmark's last miss is diabetes, where
lit-dl's MSE and the plain loop's differ by noise: both run one algorithm (the recipe's MLP, AdamW,
one-cycle, 40 epochs, the final weights). Methods that regularise more win on diabetes, where the
net overfits; the question is what they cost on data where it does not. Each method here is run
as the plain loop with one change, paired with the plain loop itself on the same split and seed:

- ema_0.95, ema_0.99: the test scores an exponential moving average of the weights (torch's
  `AveragedModel`, what `lit_dl.training.EMA` keeps) with that decay;
- holdout_final: 10% of the training split held out, the final weights (the recipe with
  `train_on_val: false`);
- holdout_best: the epoch with the lowest loss on that 10% (`checkpoint.monitor: val/loss`);
- refit: the epoch count so chosen, then a new run on all the training data for that many epochs;
- stop: a new run on all the training data with the 40-epoch schedule, stopped after that many;
- choose_ema: the hold-out's run picks the final weights or their EMA (decay 0.99), whichever has
  the lower loss on the 10%, and the run on all the data is tested with that pick (a second run,
  so twice the training time).

Data: diabetes, wine and breast cancer (scikit-learn's, `scripts/make_sklearn_arrays.py`) and
Friedman #1 (generated: 442 samples like diabetes, 10 features of which 5 matter, noise s.d. 1),
a regression the MLP does not overfit. Split seeds 100 on ("tuning" splits: the quality benchmark
reports splits 0-9, so nothing here is chosen on them). One thread.

    python scripts/bench/small_data.py                   # 20 splits, about 2 minutes on 2 cores
    python scripts/bench/small_data.py --splits 2 --epochs 3 --out /tmp/s   # a dry run

Writes `<out>/small_data.json` and `<out>/small_data.md`.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

if __package__ in (None, ""):  # run as a file: make `scripts.bench` importable from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.bench.common import REPO  # noqa: E402
from scripts.bench.quality import (  # noqa: E402
    PLAIN_BATCH, machine, plain_data, plain_loss, plain_metric, plain_net, plain_optimizer,
)

sys.path.insert(0, str(REPO / "scripts"))
import make_sklearn_arrays  # noqa: E402

DATASETS = ("diabetes", "friedman1", "wine", "breast_cancer")
REGRESSION = ("diabetes", "friedman1")
METHODS = ("ema_0.95", "ema_0.99", "holdout_final", "holdout_best", "refit", "stop", "choose_ema")
EMA_DECAYS = (0.95, 0.99)
FIRST_SPLIT = 100
HOLDOUT = 0.1


def load(name: str, seed: int) -> dict[str, np.ndarray]:
    if name == "friedman1":
        from sklearn.datasets import make_friedman1

        x, y = make_friedman1(n_samples=442, noise=1.0, random_state=7)
        return make_sklearn_arrays.split(x.astype(np.float32), y.astype(np.float32), seed)
    return make_sklearn_arrays.split(*make_sklearn_arrays.load(name), seed)


def train(t: dict[str, Any], rows: torch.Tensor, seed: int, epochs: int, stop: int | None = None,
          watch: torch.Tensor | None = None) -> dict[str, Any]:
    """The plain loop on the training rows `rows`: the final net, its EMAs, and (given the rows to
    `watch`) the epoch and weights with the lowest loss on them."""
    torch.manual_seed(seed)
    x, y = t["x"][rows], t["y"][rows]
    net = plain_net("mlp", tuple(x.shape[1:]), t["outputs"])
    averages = {d: AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(d), use_buffers=True) for d in EMA_DECAYS}
    loss_fn = plain_loss(t)
    optimizer, schedule = plain_optimizer(net, len(x), epochs)
    best = {"loss": float("inf"), "epoch": epochs, "state": None}
    for epoch in range(1, (stop or epochs) + 1):
        net.train()
        for batch in torch.randperm(len(x)).split(PLAIN_BATCH):
            optimizer.zero_grad()
            loss_fn(net(x[batch]), y[batch]).backward()
            optimizer.step()
            schedule.step()
            for average in averages.values():
                average.update_parameters(net)
        if watch is not None:
            loss = rows_loss(t, net, watch)
            if loss < best["loss"]:
                best = {"loss": loss, "epoch": epoch, "state": copy.deepcopy(net.state_dict())}
    return {"net": net, "averages": averages, "best": best}


def rows_loss(t: dict[str, Any], net: nn.Module, rows: torch.Tensor) -> float:
    """The training loss of `net` (in eval mode) on some of the training rows."""
    net.eval()
    with torch.no_grad():
        return plain_loss(t)(net(t["x"][rows]), t["y"][rows]).item()


def score(t: dict[str, Any], net: nn.Module) -> float:
    """Test accuracy in % or test MSE in the target's units."""
    net.eval()
    with torch.no_grad():
        metric, value = plain_metric(t, net(t["x_test"]))
    return value * 100 if metric == "acc" else value


def one_split(name: str, seed: int, epochs: int) -> dict[str, float]:
    t = plain_data(load(name, seed))
    everything = torch.arange(len(t["x"]))
    plain = train(t, everything, seed, epochs)
    result = {"plain": score(t, plain["net"])}
    result |= {f"ema_{d}": score(t, average) for d, average in plain["averages"].items()}
    shuffled = torch.from_numpy(np.random.default_rng(seed).permutation(len(t["x"])))
    held = round(HOLDOUT * len(t["x"]))
    holdout = train(t, shuffled[held:], seed, epochs, watch=shuffled[:held])
    result["holdout_final"] = score(t, holdout["net"])
    averaged_wins = rows_loss(t, holdout["averages"][0.99], shuffled[:held]) < rows_loss(t, holdout["net"], shuffled[:held])
    result["choose_ema"] = result["ema_0.99"] if averaged_wins else result["plain"]
    holdout["net"].load_state_dict(holdout["best"]["state"])
    result["holdout_best"] = score(t, holdout["net"])
    chosen = result["chosen_epoch"] = holdout["best"]["epoch"]
    result["refit"] = score(t, train(t, everything, seed, chosen)["net"])
    result["stop"] = score(t, train(t, everything, seed, epochs, stop=chosen)["net"])
    return result


def summarise(name: str, splits: list[dict[str, float]]) -> dict[str, Any]:
    """Per method: the mean paired difference from the plain loop, its standard error, and on how
    many splits it was better and worse (for MSE lower is better)."""
    sign = -1 if name in REGRESSION else 1
    summary: dict[str, Any] = {"metric": "mse" if name in REGRESSION else "acc", "splits": len(splits),
                               "plain": statistics.fmean(s["plain"] for s in splits), "methods": {}}
    for method in METHODS:
        differences = [s[method] - s["plain"] for s in splits]
        summary["methods"][method] = {
            "difference": statistics.fmean(differences),
            "se": statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else float("nan"),
            "better": sum(sign * d > 0 for d in differences), "worse": sum(sign * d < 0 for d in differences),
        }
    summary["chosen_epochs"] = [s["chosen_epoch"] for s in splits]
    return summary


def report(result: dict[str, Any]) -> str:
    lines = [
        "# Small data: weight averaging and a validation-chosen stop, against the plain loop",
        "",
        f"`python scripts/bench/small_data.py`, {result['date']}, git {result['machine']['git']}: {result['epochs']} epochs, "
        f"split seeds {result['seeds'][0]}-{result['seeds'][-1]} (tuning splits, not the quality benchmark's), one thread. "
        "Each cell: the method's test metric minus the plain loop's on the same split and seed, mean (standard error), "
        "and on how many splits the method was better / worse. Accuracy in points; MSE in the target's units "
        "and in % of the plain loop's. What each method is: the script's docstring.",
        "",
        "| data | metric | plain loop | " + " | ".join(METHODS) + " |",
        "|---|---|---|" + "---|" * len(METHODS),
    ]
    for name, row in result["datasets"].items():
        cells = []
        for method in METHODS:
            m = row["methods"][method]
            relative = f", {100 * m['difference'] / row['plain']:+.0f}%" if row["metric"] == "mse" else ""
            cells.append(f"{m['difference']:+.2f}{relative} ({m['se']:.2f}) {m['better']}/{m['worse']}")
        plain = f"{row['plain']:.2f}"
        lines.append(f"| {name} | {row['metric']} | {plain} | " + " | ".join(cells) + " |")
    lines += ["", "Epochs chosen on the hold-out: " + "; ".join(
        f"{name} {statistics.median(row['chosen_epochs']):.0f} (median; {min(row['chosen_epochs'])}-{max(row['chosen_epochs'])})"
        for name, row in result["datasets"].items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=20, help=f"split seeds {FIRST_SPLIT}, {FIRST_SPLIT + 1}, ...")
    parser.add_argument("--epochs", type=int, default=40, help="the plain loop's and the recipe's epochs")
    parser.add_argument("--only", default=",".join(DATASETS), help="comma-separated: " + ", ".join(DATASETS))
    parser.add_argument("--out", default=str(REPO / "benchmarks"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = [name for name in args.only.split(",") if name]
    if unknown := sorted(set(names) - set(DATASETS)):
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    seeds = list(range(FIRST_SPLIT, FIRST_SPLIT + args.splits))
    result = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": machine(),
        "epochs": args.epochs, "seeds": seeds,
        "datasets": {name: summarise(name, [one_split(name, seed, args.epochs) for seed in seeds]) for name in names},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "small_data.json").write_text(json.dumps(result, indent=2) + "\n")
    text = report(result)
    (out / "small_data.md").write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
