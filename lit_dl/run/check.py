"""What every run promises, checked from the files it left (README, "What a run promises"):

1. `last.ckpt` holds the newest state: no metric was logged at a step it does not hold, and
   results.json's `steps` is its step.
2. Every epoch that trained was validated, and nothing was logged twice: no metric has two
   values at one step, across any number of resumes.
3. results.json agrees with metrics.csv and the checkpoints: a known status, its epochs, its
   best score (the monitored metric's best in metrics.csv, and what best.ckpt says), `val` at
   the best checkpoint, and a best checkpoint that exists inside the run.
4. A run that says it is running is held by a live process (its lock); otherwise it was killed.
5. No temporary file remains after the run stopped.
6. config.yaml is there to rerun it (whether it parses is checked by `lit-dl check` itself).

`check_record(run_dir)` returns one line per broken promise ([] for a whole run); it reads
files only. The one-writer promise is kept by the lock (lit_dl.run.lock).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lit_dl.run.config import read_config
from lit_dl.run.layout import RunPaths
from lit_dl.run.lock import holder
from lit_dl.run.reader import read_metrics
from lit_dl.run.results import STATUSES, read_results

TOLERANCE = 1e-6  # relative: metrics.csv and results.json print floats in different ways


def check_record(run_dir: Path, read_checkpoints: bool = True) -> list[str]:
    """The broken promises of one run directory, one line each. Without `read_checkpoints`
    (`compare`, which starts without torch) only the files beside the checkpoints are read."""
    paths = RunPaths(Path(run_dir))
    try:
        record = read_results(paths.run_dir, strict=True)
        config = read_config(paths.run_dir)
    except Exception as error:  # noqa: BLE001  a broken file is itself the finding
        return [str(error)]
    status = record.get("status")
    if status == "running" and holder(paths.lock):
        return []  # in use: its record is not final yet
    rows, cut = _rows(paths)
    problems = [*_status(paths, record), *_temporary_files(paths, status), *_logged_once(rows)]
    if cut:
        problems.append("metrics.csv ends in a cut-off row")
    if read_checkpoints:
        problems += _last_is_newest(paths, record, rows, _load(paths.last_checkpoint))
    problems += _every_epoch_validated(rows, record, config)
    problems += _best(paths, record, rows, config, read_checkpoints)
    if record and not paths.config.is_file():
        problems.append("config.yaml is missing: the run cannot be rerun")
    return problems


def _status(paths: RunPaths, record: dict[str, Any]) -> list[str]:
    status = record.get("status")
    if not record:
        return [] if not paths.metrics.is_file() else ["results.json is missing beside metrics.csv"]
    if status not in STATUSES:
        return [f"results.json has status {status!r}; expected one of {', '.join(STATUSES)}"]
    if status == "running":
        return [f"results.json says running but no process holds the run: it was killed; resume it with "
                f"lit-dl fit --config {paths.config} --ckpt_path {paths.last_checkpoint}"]
    if status == "failed" and not record.get("error"):
        return ["results.json says failed without the error that stopped it"]
    return []


def _temporary_files(paths: RunPaths, status: str | None) -> list[str]:
    if status == "running":
        return []
    return [f"temporary file left behind: {path}" for path in paths.temporary_files()]


def _logged_once(rows: list[dict[str, float]]) -> list[str]:
    """No training or validation metric has two values at one step (a repeated epoch, a second
    writer). Test metrics may be logged again: each fit that completes tests its best."""
    seen: dict[tuple[str, float], int] = {}
    for row in rows:
        for name in row:
            if name not in ("step", "epoch") and not name.startswith("test/") and "step" in row:
                seen[name, row["step"]] = seen.get((name, row["step"]), 0) + 1
    repeated = sorted({name: step for (name, step), count in seen.items() if count > 1}.items())
    return [f"metrics.csv logs {name} twice at step {int(step)} (an epoch trained or validated twice)" for name, step in repeated[:3]]


def _last_is_newest(paths: RunPaths, record: dict[str, Any], rows: list[dict[str, float]], last: dict[str, Any] | None) -> list[str]:
    if last is None:
        if paths.last_checkpoint.is_file():
            return ["last.ckpt cannot be read"]
        trained = any(name.startswith(("val/", "train/")) for row in rows for name in row)
        return ["last.ckpt is missing though the run trained"] if trained and paths.checkpoints.is_dir() else []
    if record.get("status") in ("failed", "diverged"):
        return []  # the steps since the last save are lost with the failure; a resume drops their rows
    step = int(last.get("global_step", -1))
    fit_steps = [row["step"] for row in rows if "step" in row and not any(n.startswith("test/") for n in row)]
    problems = []
    if fit_steps and max(fit_steps) >= step:
        problems.append(f"last.ckpt holds step {step} but metrics.csv logged step {int(max(fit_steps))}: last.ckpt is stale")
    if isinstance(record.get("steps"), int) and record["steps"] != step:
        problems.append(f"results.json says {record['steps']} steps but last.ckpt holds step {step}")
    return problems


def _every_epoch_validated(rows: list[dict[str, float]], record: dict[str, Any], config: dict[str, Any]) -> list[str]:
    trainer = config.get("trainer") or {}
    every = trainer.get("check_val_every_n_epoch") or 1
    validated = sorted({int(row["epoch"]) for row in rows if "epoch" in row and any(n.startswith("val/") for n in row)})
    if not validated or trainer.get("limit_val_batches") == 0 or every is None:
        return []
    epochs = record.get("epochs")
    if record.get("status") != "completed" or not isinstance(epochs, int):
        epochs = validated[-1] + 1  # a run that stopped: the epochs up to its last validation
    expected = [epoch for epoch in range(epochs) if (epoch + 1) % every == 0]
    missing = sorted(set(expected) - set(validated))
    if missing:
        shown = ", ".join(str(epoch) for epoch in missing[:5])
        return [f"epoch{'s' if len(missing) > 1 else ''} {shown} trained but never validated in metrics.csv"]
    return []


def _best(paths: RunPaths, record: dict[str, Any], rows: list[dict[str, float]], config: dict[str, Any], read_checkpoints: bool) -> list[str]:
    if record.get("status") not in ("completed", "interrupted", "pruned") or record.get("best_score") is None:
        return []
    checkpoint = config.get("checkpoint") or {}
    monitor = record.get("monitor") or checkpoint.get("monitor") or "val/loss"
    values = [row[monitor] for row in rows if monitor in row and not math.isnan(row[monitor])]
    problems = []
    recorded = record.get("best_checkpoint")
    # Where the run is now: results.json names the file where the run was written (a run can be
    # copied or moved), so it is found by its place inside the run.
    best_file = paths.checkpoints / Path(recorded).name if recorded else None
    if recorded and Path(recorded).parent.name != paths.checkpoints.name:
        problems.append(f"the best checkpoint {recorded} is not in the run's checkpoints/ folder")
    elif best_file and not best_file.is_file():
        problems.append(f"results.json names the best checkpoint {recorded}, which does not exist")
    if values:
        best = max(values) if checkpoint.get("mode") == "max" else min(values)
        if not _close(best, record["best_score"]):
            problems.append(f"results.json's best {monitor} {record['best_score']:.6g} is not metrics.csv's best {best:.6g}")
    val = (record.get("val") or {}).get(monitor)
    if val is not None and not _close(val, record["best_score"]):
        problems.append(f"results.json's val {monitor} {val:.6g} is not the best checkpoint's {record['best_score']:.6g}")
    saved = _saved_best(_load(best_file) if read_checkpoints and best_file and best_file.is_file() else None)
    score = saved.get("best_model_score")
    if score is not None and not _close(score, record["best_score"]):
        problems.append(f"best.ckpt says the best {monitor} is {float(score):.6g}; results.json says {record['best_score']:.6g}")
    # What a resume records as `val`: the best checkpoint's own validation, kept in it.
    kept = (saved.get("best_metrics") or {}).get(monitor)
    if kept is not None and not _close(kept, record["best_score"]):
        problems.append(f"best.ckpt keeps {monitor} {kept:.6g} as its validation's, but it scored {record['best_score']:.6g}: a resume would record the wrong val")
    return problems


def _saved_best(checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    """The checkpoint callback's state saved in `checkpoint` ({} when it has none)."""
    for state in ((checkpoint or {}).get("callbacks") or {}).values():
        if isinstance(state, dict) and state.get("best_model_score") is not None:
            return state
    return {}


def _rows(paths: RunPaths) -> tuple[list[dict[str, float]], bool]:
    """metrics.csv's rows, and whether its last row was cut off (a kill while appending)."""
    if not paths.metrics.is_file():
        return [], False
    text = paths.metrics.read_text()
    return read_metrics(paths.metrics), bool(text) and not text.endswith("\n")


def _load(path: Path) -> dict[str, Any] | None:
    """A checkpoint's contents, its tensors left on disk (memory-mapped); None if unreadable."""
    if not path.is_file():
        return None
    import torch  # only here: checking the records alone needs no torch

    try:
        loaded = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception:  # noqa: BLE001  any unreadable file is the finding
        return None
    return loaded if isinstance(loaded, dict) else None


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=TOLERANCE, abs_tol=1e-9)
