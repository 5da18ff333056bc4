"""`results.json`: the one reader and the one writer of a run's record.

The fit that creates a run writes its fields (status, val (the best checkpoint's validation
metrics), val_last (the last validation's), test, best_checkpoint, best_score, monitor, seed,
versions, git, wall_time_s, epochs, steps, and for a classifier `per_class`: labels,
confusion_matrix (rows: true class), support, precision, recall, f1, f1_macro and the figure's
file name); a resume updates them; later commands (`test`, `validate`, `predict`) only append
to `evaluations`, so they never overwrite what the fit recorded. `lit_dl.run.session` is the
one caller that writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from lit_dl.errors import UserError
from lit_dl.run.files import write_atomically
from lit_dl.run.layout import RunPaths

Status = Literal["running", "completed", "interrupted", "failed", "diverged", "pruned"]
STATUSES: tuple[str, ...] = ("running", "completed", "interrupted", "failed", "diverged", "pruned")
# How a run that is not running ended; `running` is a run in progress (or killed before it could say).
ENDED = tuple(status for status in STATUSES if status != "running")


def read_results(run_dir: Path, strict: bool = False) -> dict[str, Any]:
    """What the run recorded; {} when it recorded nothing, or the file cannot be read (with
    `strict`, a file that exists but is broken is a UserError instead)."""
    path = RunPaths(Path(run_dir)).results
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        if strict:
            raise UserError(f"cannot read {path}: {error}; fix or remove the broken file") from error
        return {}
    if not isinstance(data, dict):
        if strict:
            raise UserError(f"{path} does not hold a JSON object; fix or remove the broken file")
        return {}
    return data


def update_results(run_dir: Path, **fields: Any) -> None:
    """Merge `fields` into results.json."""
    with _recording(Path(run_dir)):
        _write(Path(run_dir), {**read_results(run_dir), **fields})


def add_evaluation(
    run_dir: Path, command: str, checkpoint: str | None, metrics: dict[str, float], per_class: dict[str, Any] | None = None
) -> None:
    """Record a later `test`/`validate`/`predict` of the run beside, not over, the fit's values;
    a classifier's test adds its `per_class` record (the same fields as the fit's)."""
    evaluation = {"command": command, "checkpoint": checkpoint, "metrics": metrics, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if per_class:
        evaluation["per_class"] = per_class
    with _recording(Path(run_dir)):
        record = read_results(run_dir)
        record["evaluations"] = [*(record.get("evaluations") or []), evaluation]
        _write(Path(run_dir), record)


def wall_time_so_far(run_dir: Path) -> float:
    """The wall time earlier segments of a resumed or requeued run already spent."""
    try:
        return float(read_results(run_dir).get("wall_time_s") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _write(run_dir: Path, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
    write_atomically(RunPaths(run_dir).results, text)


@contextlib.contextmanager
def _recording(run_dir: Path) -> Iterator[None]:
    """One read-modify-write of results.json at a time (a fit and a `test` of the same run):
    a lock on the run directory itself, which leaves no file behind."""
    try:
        descriptor = os.open(run_dir, os.O_RDONLY)
    except OSError:
        yield  # the write below reports what is wrong with the folder
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


__all__ = ["read_results", "update_results", "add_evaluation", "wall_time_so_far", "STATUSES", "ENDED"]
