"""Search benchmark: `lit-dl sweep` with Bayesian search (Optuna TPE) and pruning against a full
grid, and a sweep killed at random moments and resumed; on the digits recipe
(experiments/arrays_mlp.yaml on scikit-learn's digits, written by scripts/make_sklearn_arrays.py).

    python scripts/bench/search.py                    # about 10 minutes on 2 shared cores
    python scripts/bench/search.py --tiny --out /tmp/s   # every piece on tiny sizes (a dry run)
    python -m scripts.bench --only search             # as a section of the whole benchmark

- grid: every point of GRID, EPOCHS epochs each;
- bayes: `method: bayes`, COUNT trials over the ranges that span the grid, with the median rule
  (`early_terminate: {type: median, min_iter: 2, startup: 3}`), at most EPOCHS epochs each;
- kills: a sweep of KILL_TRIALS trials (median pruning) killed with SIGKILL three times at random
  moments (seeded), each followed by `lit-dl sweep --resume`.
The score is each sweep's best validation accuracy (val/acc at its best epoch), on a 30%
validation split of digits' training set (404 images). Epochs are those every trial trained.

Goals: bayes within 0.5 accuracy points of the grid's best with at most a third of the grid's
epochs; the killed sweep ends with exactly KILL_TRIALS trials completed or pruned.
Writes `<out>/search.json` and `<out>/search.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `scripts.bench` importable from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.bench.common import ENV, REPO, load_average, log, machine, met, table  # noqa: E402

MAX_LR = "model.init_args.scheduler.init_args.max_lr"
WEIGHT_DECAY = "model.init_args.optimizer.init_args.weight_decay"
DROPOUT = "model.init_args.net.init_args.dropout"
GRID = {MAX_LR: [0.001, 0.003, 0.01, 0.03], WEIGHT_DECAY: [0.0, 0.01, 0.1], DROPOUT: [0.0, 0.3]}
EPOCHS, COUNT, KILL_TRIALS, KILLS = 10, 12, 6, 3
GOAL_POINTS, GOAL_EPOCH_SHARE = 0.5, 1 / 3
SWEEP = [sys.executable, "-m", "lit_dl.cli", "sweep"]


def sweep_file(path: Path, method: str, parameters: dict[str, Any], count: int | None = None, prune: bool = False) -> Path:
    import yaml

    spec: dict[str, Any] = {"config": str(REPO / "experiments" / "arrays_mlp.yaml"), "name": path.stem, "method": method,
                            "metric": {"name": "val/acc", "goal": "maximize"}, "parameters": parameters}
    if count:
        spec["count"] = count
    if prune:
        spec["early_terminate"] = {"type": "median", "min_iter": 2, "startup": 3}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def fit_flags(data: Path, epochs: int) -> list[str]:
    return ["--", "--data.init_args.path", str(data), "--data.init_args.val_fraction", "0.3",
            "--trainer.max_epochs", str(epochs), "--test_after_fit", "false", "--trainer.enable_progress_bar", "false"]


def run_sweep(path: Path, root: Path, flags: list[str]) -> dict[str, Any]:
    """One sweep to its end: its sweep.json with the wall time."""
    start = time.perf_counter()
    done = subprocess.run([*SWEEP, str(path), "--root", str(root), *flags], env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{path.name} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    found = json.loads((root / path.stem / "sweep_0" / "sweep.json").read_text())
    return {**found, "wall_s": round(time.perf_counter() - start, 1)}


def grid_and_bayes(work: Path, data: Path, grid: dict[str, list], epochs: int, count: int) -> dict[str, Any]:
    ranges = {
        MAX_LR: {"distribution": "log_uniform_values", "min": min(grid[MAX_LR]), "max": max(grid[MAX_LR])},
        WEIGHT_DECAY: {"distribution": "uniform", "min": min(grid[WEIGHT_DECAY]), "max": max(grid[WEIGHT_DECAY])},
        DROPOUT: {"distribution": "uniform", "min": min(grid[DROPOUT]), "max": max(grid[DROPOUT])},
    }
    log(f"search: grid of {_points(grid)} points x {epochs} epochs")
    grid_found = run_sweep(sweep_file(work / "grid.yaml", "grid", {k: {"values": v} for k, v in grid.items()}), work / "runs", fit_flags(data, epochs))
    log(f"search: bayes, {count} trials with the median rule")
    bayes_found = run_sweep(sweep_file(work / "bayes.yaml", "bayes", ranges, count, prune=True), work / "runs", fit_flags(data, epochs))
    return {"grid": _brief(grid_found), "bayes": _brief(bayes_found)}


def _points(grid: dict[str, list]) -> int:
    size = 1
    for values in grid.values():
        size *= len(values)
    return size


def _brief(found: dict[str, Any]) -> dict[str, Any]:
    best = found["best"][0]
    return {"best_acc": best["value"], "best_params": best["params"], "epochs": found["epochs_trained"],
            "trials": found["trials"], "importances": found["importances"], "wall_s": found["wall_s"]}


def killed_and_resumed(work: Path, data: Path, trials: int, kills: int, epochs: int, seed: int = 0) -> dict[str, Any]:
    """A sweep killed with SIGKILL `kills` times at random moments, resumed after each."""
    rng = random.Random(seed)
    path = sweep_file(work / "killed.yaml", "random", {MAX_LR: {"distribution": "log_uniform_values", "min": 1e-3, "max": 3e-2}},
                      count=trials, prune=True)
    root, record = work / "runs", work / "runs" / "killed" / "sweep_0"
    delays, start = [], time.perf_counter()
    command = [*SWEEP, str(path), "--root", str(root), *fit_flags(data, epochs)]
    for kill in range(kills + 1):
        process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kill == kills:
            process.wait()
            break
        delay = rng.uniform(1.0, 20.0)  # from the (re)start: reading the study, a fit starting, training
        delays.append(round(delay, 1))
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
        if (record / "study.journal").is_file():  # else killed before the sweep made its record: start again
            command = [*SWEEP, "--resume", str(record)]
    rows = json.loads((record / "trials.json").read_text())
    found = json.loads((record / "sweep.json").read_text())
    return {"trials": trials, "kills": kills, "kill_after_s": delays, "statuses": found["trials"],
            "attempts": sum(row["attempts"] for row in rows), "runs": len(list((root / "killed").glob("version_*"))),
            "finished": sum(row["status"] in ("completed", "pruned") for row in rows), "wall_s": round(time.perf_counter() - start, 1),
            "exit_code": process.returncode}


def measure(tiny: bool = False) -> dict[str, Any]:
    import subprocess as sp

    start, load = time.perf_counter(), load_average()
    grid = {MAX_LR: [0.003, 0.01], WEIGHT_DECAY: [0.0], DROPOUT: [0.0]} if tiny else GRID
    epochs, count, trials, kills = (2, 2, 2, 1) if tiny else (EPOCHS, COUNT, KILL_TRIALS, KILLS)
    with tempfile.TemporaryDirectory(prefix="lit-dl-search-") as scratch:
        work = Path(scratch)
        sp.run([sys.executable, str(REPO / "scripts" / "make_sklearn_arrays.py"), str(work / "data"), "--only", "digits"],
               check=True, capture_output=True)
        data = work / "data" / "digits.npz"
        result = grid_and_bayes(work, data, grid, epochs, count)
        log(f"search: a sweep of {trials} trials killed {kills} times")
        result["kills"] = killed_and_resumed(work, data, trials, kills, epochs)
    result.update(machine=machine(), tiny=tiny, epochs=epochs, grid_points=_points(grid), count=count,
                  minutes=round((time.perf_counter() - start) / 60, 1), load_average=[load, load_average()])
    return result


# -- the section of `python -m scripts.bench` ----------------------------------------------------
def run(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    return measure(tiny=getattr(options, "tiny", False))


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    grid, bayes, kills = result["grid"], result["bayes"], result["kills"]
    points = (grid["best_acc"] - bayes["best_acc"]) * 100
    share = bayes["epochs"] / grid["epochs"]
    return [
        ("Search, digits: bayes + median pruning vs the full grid's best val/acc", f"within {GOAL_POINTS} points",
         f"{bayes['best_acc'] * 100:.2f} vs {grid['best_acc'] * 100:.2f} ({-points:+.2f} points)", met(points <= GOAL_POINTS)),
        ("Search, digits: bayes's epochs over the grid's", f"<= {GOAL_EPOCH_SHARE:.2f}",
         f"{share:.2f} ({bayes['epochs']} vs {grid['epochs']})", met(share <= GOAL_EPOCH_SHARE)),
        (f"Search: a sweep of {kills['trials']} trials killed {kills['kills']} times at random moments, resumed",
         f"exactly {kills['trials']} completed or pruned", f"{kills['finished']} ({kills['statuses']})",
         met(kills["finished"] == kills["trials"] and kills["statuses"]["failed"] == 0)),
    ]


def markdown(result: dict[str, Any]) -> list[str]:
    grid, bayes, kills = result["grid"], result["bayes"], result["kills"]
    rows = [
        (f"grid ({result['grid_points']} points)", f"{grid['best_acc'] * 100:.2f}", grid["epochs"], _counts(grid["trials"]), f"{grid['wall_s']:.0f}", _params(grid)),
        (f"bayes ({result['count']} trials, median rule)", f"{bayes['best_acc'] * 100:.2f}", bayes["epochs"], _counts(bayes["trials"]),
         f"{bayes['wall_s']:.0f}", _params(bayes)),
    ]
    return [
        "## Search",
        "",
        f"`python scripts/bench/search.py`: experiments/arrays_mlp.yaml on digits (30% of its training set for validation), "
        f"at most {result['epochs']} epochs a trial; {result['minutes']} minutes, load average {result['load_average'][0]:.1f} "
        f"at the start and {result['load_average'][1]:.1f} at the end (2 shared cores).",
        "",
        *table(["sweep", "best val/acc %", "epochs trained", "trials", "wall s", "best values"], rows),
        "",
        f"Importances (bayes, PED-ANOVA): {_importances(bayes)}. Killed sweep: {kills['trials']} trials, SIGKILL after "
        f"{', '.join(f'{d} s' for d in kills['kill_after_s'])} from each (re)start, each followed by `--resume`: "
        f"{_counts(kills['statuses'])}, {kills['attempts']} attempts, {kills['runs']} run directories, {kills['wall_s']:.0f} s, "
        f"last exit code {kills['exit_code']}.",
    ]


def _counts(statuses: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in statuses.items() if n)


def _params(found: dict[str, Any]) -> str:
    short = {MAX_LR: "max_lr", WEIGHT_DECAY: "weight_decay", DROPOUT: "dropout"}
    return " ".join(f"{short.get(k, k)}={v:.3g}" if isinstance(v, float) else f"{short.get(k, k)}={v}" for k, v in (found["best_params"] or {}).items())


def _importances(found: dict[str, Any]) -> str:
    short = {MAX_LR: "max_lr", WEIGHT_DECAY: "weight_decay", DROPOUT: "dropout"}
    return ", ".join(f"{short.get(k, k)} {v:.2f}" for k, v in (found["importances"] or {}).items()) or "n/a"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks"), help="where search.json and search.md go")
    parser.add_argument("--tiny", action="store_true", help="every piece on tiny sizes: checks the harness only")
    args = parser.parse_args(argv)
    result = measure(tiny=args.tiny)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    text = ["# Search benchmark", "", *table(["goal", "target", "measured", ""], goals(result)), "", *markdown(result)[2:]]
    (out / "search.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    return result


if __name__ == "__main__":
    main()
