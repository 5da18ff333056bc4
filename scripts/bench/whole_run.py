"""Whole run: a real recipe trained end to end by `lit-dl fit` against hand-written loops doing
the same work, each in a fresh process, interleaved, median of rounds.

The case: `experiments/arrays_mlp.yaml` on scikit-learn's digits (split seed 0: 135 of the 1,347
training samples held out for validation; the recipe's `train_on_val` trains on all 1,347, 22 steps
of 64 an epoch), 100 epochs, with validation and a checkpoint file written every epoch, no test.
Runners:

- `lit`: `lit-dl fit --config experiments/arrays_mlp.yaml --data.init_args.path digits.npz
  --trainer.max_epochs 100 --test_after_fit false`, called in the worker process (lit_dl.cli.main);
- `hand_best`: the fastest loop a researcher writes by hand: the same split (training on the
  validation samples too, as the recipe does), standardisation, net
  (lit_dl.nets.MLP [256, 128], dropout 0.1), loss, AdamW (fused) and OneCycleLR; batches sliced
  from in-memory tensors (lit_dl's `TensorBatchLoader`); the epoch's training loss and accuracy
  summed on the device, a validation pass (loss and accuracy), a row in a CSV file and a line
  on the console, and one `torch.save` of the weights, optimizer and scheduler to a file, every
  epoch (what lit-dl records, less its finer logging: the loss every 20 steps, the learning rate
  and the gradient norm);
- `hand_dataloader`: the same with `DataLoader(TensorDataset)` batches and the default AdamW;
- `lightning`: lit-dl's task (Classifier with the same MLP, fused AdamW, one-cycle) on the hand
  loop's in-memory batches in a plain `lightning.Trainer` with a CSV logger and Lightning's default
  checkpoint (a file every epoch), no progress bar or model summary: what Lightning's own loop costs
  any tool built on it, lit-dl's command, run directory and default callbacks left out (run with
  the NVML variable as lit-dl gives it back, so that only the loop differs).

A hand loop's process gets `PYTORCH_NVML_BASED_CUDA_CHECK` as the user had it (`import lightning`
sets it, and then every CPU AdamW step asks NVML for GPUs, some 60 us; a researcher's own loop
imports no Lightning; lit-dl's command gives the user's value back itself).

Time: from the call that starts the work (lit-dl's `main`, the loop's reading of the .npz) to its
end, imports done before; wall and CPU seconds of the process's main thread (the training thread:
on a shared machine its CPU time barely moves with other processes' load). The lit-dl runner also
records how long its checkpoint saves took and how many serialisations they made.

    python -m scripts.bench.whole_run --rounds 3 --out /tmp/w       # the section alone, JSON
    python -m scripts.bench.whole_run --worker lit --path digits.npz --workdir /tmp/w   # one run
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from scripts.bench.common import ENV, NVML_CHECK, REPO, USER_NVML_CHECK, environment_variable, load_average, log, median, met, python_module, stamp, table

RECIPE = REPO / "experiments" / "arrays_mlp.yaml"
EPOCHS = 100
RUNNERS = ("hand_best", "lit", "hand_dataloader", "lit_two_writes", "lightning")
TITLES = {
    "hand_best": "hand loop: in-memory slices, fused AdamW",
    "lit": "`lit-dl fit`",
    "hand_dataloader": "hand loop: DataLoader(TensorDataset), AdamW",
    "lightning": "plain Lightning Trainer: lit-dl's task, the hand loop's batches, CSV logger, a checkpoint an epoch",
    "lit_two_writes": "`lit-dl fit`, last.ckpt written again at a new best (as before the link)",
}
GOALS = {"hand_best": 1.5, "hand_dataloader": 1.0}  # lit-dl's time over the runner's, at most
MEASURE = "cpu_s"  # what the goals are judged on


# -- the runners (each in its own process) ----------------------------------------------------------
def run_lit(path: Path, workdir: Path, epochs: int, two_writes: bool = False) -> dict[str, Any]:
    from lit_dl.cli import main

    saves = SaveTimer(two_writes)
    arguments = [
        "fit", "--config", str(RECIPE), "--data.init_args.path", str(path), "--trainer.max_epochs", str(epochs),
        "--test_after_fit", "false", "--trainer.default_root_dir", str(workdir / "runs"),
    ]
    with saves, contextlib.redirect_stdout(io.StringIO()) as out:
        start = stamp()
        main(arguments)
        end = stamp()
    run_dir = Path(out.getvalue().strip().splitlines()[-1])
    results = json.loads((run_dir / "results.json").read_text())
    if results.get("epochs") != epochs:
        raise RuntimeError(f"lit-dl trained {results.get('epochs')} epochs, expected {epochs}")
    return {"wall_s": end[0] - start[0], "cpu_s": end[1] - start[1], "fit_wall_s": results["wall_time_s"], **saves.figures(epochs)}


class SaveTimer:
    """While active: the time spent in each `Trainer.save_checkpoint` (by file name) and in linking
    `last.ckpt` to `best.ckpt` (where lit-dl links it), and the number of `torch.save`
    serialisations (bench instrumentation, wrapped around the library functions)."""

    def __init__(self, two_writes: bool = False) -> None:
        self.spent: dict[str, list[float]] = {}  # what -> [calls, wall s, CPU s]
        self.serialisations, self._undo = 0, []
        self.two_writes = two_writes  # write last.ckpt in full where lit-dl links it, as before the link

    def _wrap(self, owner: Any, name: str, what: Any) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = what(*args, **kwargs)
            if key is None:
                self.serialisations += 1
                return original(*args, **kwargs)
            start = stamp()
            try:
                return original(*args, **kwargs)
            finally:
                end = stamp()
                spent = self.spent.setdefault(key, [0, 0.0, 0.0])
                spent[0], spent[1], spent[2] = spent[0] + 1, spent[1] + end[0] - start[0], spent[2] + end[1] - start[1]

        setattr(owner, name, wrapper)
        self._undo.append((owner, name, original))

    def __enter__(self) -> SaveTimer:
        import lightning.pytorch as pl
        import torch

        self._wrap(pl.Trainer, "save_checkpoint", lambda trainer, filepath, *a, **k: Path(filepath).name)
        self._wrap(torch, "save", lambda *a, **k: None)
        from lit_dl.training import checkpoints

        self._wrap(checkpoints, "link_atomically", lambda *a, **k: "link")
        if self.two_writes:
            write_last = checkpoints.RunCheckpoint.write_last
            self._undo.append((checkpoints.RunCheckpoint, "write_last", write_last))
            checkpoints.RunCheckpoint.write_last = lambda callback, trainer, same_as=None, always=False: write_last(callback, trainer, None, always)
        return self

    def __exit__(self, *exc: Any) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)

    def figures(self, epochs: int) -> dict[str, float]:
        """Per epoch: serialisations, save wall and CPU ms. Per new best (a write of best.ckpt): the
        ms of writing it and giving `last.ckpt` the same state, by a link, or (before links) by the
        second write Lightning made in the same epoch, once per best."""
        calls, wall, cpu = (sum(v[i] for v in self.spent.values()) for i in range(3))
        figures = {"save_ms_per_epoch": wall / epochs * 1e3, "save_cpu_ms_per_epoch": cpu / epochs * 1e3,
                   "serialisations_per_epoch": self.serialisations / epochs}
        best, link, last = (self.spent.get(key) for key in ("best.ckpt", "link", "last.ckpt"))
        # With two writes, each new best's epoch also wrote last.ckpt in full: the same share of those.
        paired, writes = (link, 1) if link else ([best[0], *(t * best[0] / last[0] for t in last[1:])], 2) if best and last else (None, 0)
        if best and paired:
            figures.update(new_bests=best[0], new_best_serialisations=writes, new_best_ms=(best[1] + paired[1]) / best[0] * 1e3,
                           new_best_cpu_ms=(best[2] + paired[2]) / best[0] * 1e3)
        return figures


def standardised_split(path: Path) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """The training file's arrays split and scaled as lit-dl does with the recipe's
    `train_on_val: true`: (train, validation) tensors, the training ones holding the validation
    samples too (the same 22 steps an epoch as lit-dl), scaled with their statistics."""
    import numpy as np
    import torch

    data = np.load(path)
    x, y = torch.from_numpy(data["x_train"].astype(np.float32)), torch.from_numpy(data["y_train"].astype(np.int64))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))  # lit-dl's validation split
    n_val = round(0.1 * len(x))
    (x_val, y_val), (x_train, y_train) = (x[order[:n_val]], y[order[:n_val]]), (x[order[n_val:]], y[order[n_val:]])
    x_train, y_train = torch.cat([x_train, x_val]), torch.cat([y_train, y_val])  # train_on_val
    mean, std = x_train.mean(0, keepdim=True), x_train.std(0, keepdim=True)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return ((x_train - mean) / std, y_train), ((x_val - mean) / std, y_val)


def run_hand(path: Path, workdir: Path, epochs: int, best: bool) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from lit_dl.data import TensorBatchLoader
    from lit_dl.nets import MLP

    start = stamp()
    torch.manual_seed(42)
    (x_train, y_train), (x_val, y_val) = standardised_split(path)
    net = MLP((x_train.shape[1],), int(y_train.max()) + 1, hidden_dims=[256, 128], dropout=0.1)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01, **({"fused": True} if best else {}))
    if best:
        train = TensorBatchLoader((x_train, y_train), batch_size=64, shuffle=True, seed=0)
        val = TensorBatchLoader((x_val, y_val), batch_size=256)
    else:
        train = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
        val = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * len(train))
    loss_fn = torch.nn.CrossEntropyLoss()
    checkpoint, log = workdir / "hand.ckpt", open(workdir / "metrics.csv", "w")
    log.write("epoch,train_loss,train_acc,val_loss,val_acc\n")
    for epoch in range(epochs):
        net.train()
        train_loss, train_correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
        for inputs, target in train:
            optimizer.zero_grad()
            logits = net(inputs)
            loss = loss_fn(logits, target)
            loss.backward()
            optimizer.step()
            schedule.step()
            train_loss += loss.detach() * len(target)
            train_correct += (logits.argmax(1) == target).sum()
        net.eval()
        with torch.no_grad():
            val_loss, val_correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
            for inputs, target in val:
                logits = net(inputs)
                val_loss += loss_fn(logits, target) * len(target)
                val_correct += (logits.argmax(1) == target).sum()
        row = [epoch, float(train_loss) / len(y_train), int(train_correct) / len(y_train), float(val_loss) / len(y_val), int(val_correct) / len(y_val)]
        log.write(",".join(map(str, row)) + "\n")
        print(f"epoch {epoch + 1}/{epochs}  train/loss {row[1]:.4g}  val/acc {row[4]:.4g}  val/loss {row[3]:.4g}", file=sys.stderr)
        torch.save({"epoch": epoch, "metrics": row, "state_dict": net.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": schedule.state_dict()}, checkpoint)
    log.close()
    end = stamp()
    return {"wall_s": end[0] - start[0], "cpu_s": end[1] - start[1]}


def run_lightning(path: Path, workdir: Path, epochs: int) -> dict[str, Any]:
    import functools

    import lightning.pytorch as pl
    import torch

    from lit_dl.data import TensorBatchLoader
    from lit_dl.nets import MLP
    from lit_dl.tasks import Classifier

    start = stamp()
    pl.seed_everything(42, verbose=False)
    (x_train, y_train), (x_val, y_val) = standardised_split(path)
    classes = int(y_train.max()) + 1
    task = Classifier(
        net=MLP((x_train.shape[1],), classes, hidden_dims=[256, 128], dropout=0.1), num_outputs=classes,
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-3, weight_decay=0.01, fused=True),
        scheduler=functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=3e-3),
    )
    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=pl.loggers.CSVLogger(workdir), log_every_n_steps=20,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(workdir),
    )
    trainer.fit(task, TensorBatchLoader((x_train, y_train), batch_size=64, shuffle=True, seed=0),
                TensorBatchLoader((x_val, y_val), batch_size=256))
    end = stamp()
    if trainer.current_epoch != epochs:
        raise RuntimeError(f"Lightning trained {trainer.current_epoch} epochs, expected {epochs}")
    return {"wall_s": end[0] - start[0], "cpu_s": end[1] - start[1]}


def worker(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="whole-run worker: one runner, one run")
    parser.add_argument("--worker", required=True, help=", ".join(RUNNERS))
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args(argv)

    import warnings

    # Imports before the clock starts, on every side; lit-dl's entry point first, as in the
    # `lit-dl` console script (it records the user's environment before Lightning changes it).
    import lit_dl.cli  # noqa: F401
    import lightning.pytorch  # noqa: F401
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.worker in ("lit", "lit_two_writes"):
        with contextlib.redirect_stderr(io.StringIO()):
            out = run_lit(args.path, args.workdir, args.epochs, two_writes=args.worker == "lit_two_writes")
    elif args.worker in ("hand_best", "hand_dataloader"):
        # A hand loop's process imports no Lightning: the variable as the user had it.
        with environment_variable(NVML_CHECK, USER_NVML_CHECK):
            out = run_hand(args.path, args.workdir, args.epochs, best=args.worker == "hand_best")
    elif args.worker == "lightning":
        # Lightning's loop against lit-dl's like for like: the variable as lit-dl gives it back.
        with environment_variable(NVML_CHECK, USER_NVML_CHECK), contextlib.redirect_stderr(io.StringIO()), \
                contextlib.redirect_stdout(io.StringIO()):
            out = run_lightning(args.path, args.workdir, args.epochs)
    else:
        raise SystemExit(f"unknown runner {args.worker!r}; choose from {', '.join(RUNNERS)}")
    print(json.dumps(out))
    return out


# -- the section -------------------------------------------------------------------------------------
def measure(rounds: int, workdir: Path, epochs: int = EPOCHS) -> dict[str, Any]:
    """Every runner `rounds` times, interleaved (the order turns each round), each in a fresh process."""
    sys.path.insert(0, str(REPO / "scripts"))
    import make_sklearn_arrays

    path = make_sklearn_arrays.write(workdir / "data", ("digits",), seed=0)["digits"]
    runners = list(RUNNERS)
    env = {**ENV, "OMP_NUM_THREADS": "1"}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in runners}
    loads = [load_average()]
    for round_ in range(rounds):
        for name in runners[round_ % len(runners):] + runners[: round_ % len(runners)]:
            log(f"whole run: {name}, round {round_ + 1} of {rounds}")
            output = python_module("scripts.bench.whole_run", "--worker", name, "--path", str(path),
                                   "--workdir", str(workdir / f"{name}-{round_}"), "--epochs", str(epochs), env=env)
            runs[name].append(json.loads(output.strip().splitlines()[-1]))
            loads.append(load_average())
    medians = {name: {key: median(r[key] for r in results) for key in results[0]} for name, results in runs.items()}
    return {"epochs": epochs, "rounds": rounds, "runs": runs, "median": medians, "load_averages": loads}


def run(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    epochs = 2 if options.tiny else EPOCHS
    return measure(1 if options.tiny else 3, workdir, epochs)


def title(runner: str) -> str:
    return TITLES[runner]


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    lit = result["median"]["lit"]
    rows = []
    for runner, most in GOALS.items():
        other = result["median"][runner]
        ratio = lit[MEASURE] / other[MEASURE]
        rows.append((
            f"Whole run, digits MLP, {result['epochs']} epochs: `lit-dl fit` / {TITLES[runner]} (CPU time)", f"<= {most:.2f}",
            f"{ratio:.2f} ({lit[MEASURE]:.2f} vs {other[MEASURE]:.2f} s; wall {lit['wall_s'] / other['wall_s']:.2f})",
            met(ratio <= most),
        ))
    return rows


def markdown(result: dict[str, Any]) -> list[str]:
    medians, loads = result["median"], result["load_averages"]
    lines = [
        "## Whole run",
        "",
        f"`experiments/arrays_mlp.yaml` on scikit-learn's digits, {result['epochs']} epochs of 22 steps, validation and a "
        f"checkpoint file every epoch, no test; hand loops doing the same work (see `scripts/bench/whole_run.py`). "
        f"Median of {result['rounds']} rounds, runners interleaved, each run in a fresh process, timed after its imports, "
        f"one thread. Load average (1 min) during the runs: {min(loads):.1f} to {max(loads):.1f}.",
        "",
        *table(["runner", "CPU s (training thread)", "wall s", "over the best hand loop (CPU)"], [
            [title(name), f"{m['cpu_s']:.2f}", f"{m['wall_s']:.2f}", f"{m['cpu_s'] / medians['hand_best']['cpu_s']:.2f}x"]
            for name, m in medians.items()
        ]),
    ]
    if "lightning" in medians:
        lit, bare, best = (medians[name]["cpu_s"] for name in ("lit", "lightning", "hand_best"))
        lines += ["", f"Lightning's own loop, with lit-dl's task on the same batches, already takes {bare / best:.2f}x the best "
                  f"hand loop's CPU time; `lit-dl fit` (its command, run directory and default callbacks) takes {lit / bare:.2f}x "
                  "that plain Trainer's. A goal below Lightning's own ratio needs a loop other than Lightning's."]
    saving = [(name, m) for name, m in medians.items() if "save_ms_per_epoch" in m]
    if saving:
        lines += ["", "Checkpoint saves of `lit-dl fit` (`Trainer.save_checkpoint`, `torch.save` and linking `last.ckpt`, timed "
                  "around the library calls): per epoch, and per new best, where best.ckpt and last.ckpt hold the same state:", "",
                  *table(["runner", "serialisations an epoch", "ms an epoch (CPU ms)", "new bests", "serialisations a new best",
                          "ms a new best (CPU ms)"], [
                      [title(name), f"{m['serialisations_per_epoch']:.2f}", f"{m['save_ms_per_epoch']:.1f} ({m['save_cpu_ms_per_epoch']:.1f})",
                       *([f"{m['new_bests']:.0f}", f"{m['new_best_serialisations']:.0f}", f"{m['new_best_ms']:.1f} ({m['new_best_cpu_ms']:.1f})"]
                         if "new_bests" in m else ["", "", ""])]
                      for name, m in saving])]
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    result = measure(args.rounds, args.out, args.epochs)
    (args.out / "whole_run.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(markdown(result) + ["", *("| " + " | ".join(row) + " |" for row in goals(result))]))
    return result


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv[1:])
    else:
        main()
