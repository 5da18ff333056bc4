"""`results.json`: the one reader and the one writer of a run's record.

The fit that creates a run writes its fields (status, val, test, best_checkpoint, seed,
versions, git, wall_time_s, epochs, and for a classifier `per_class`: labels, confusion_matrix
(rows: true class), support, precision, recall, f1, f1_macro and the figure's file name); a
resume updates them; later commands (`test`, `validate`,
`predict`) only append to `evaluations`, so they never overwrite what the fit recorded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from lit_dl.run.files import write_atomically

RESULTS_FILE = "results.json"
Status = Literal["running", "completed", "interrupted", "failed", "diverged", "pruned"]
STATUSES: tuple[str, ...] = ("running", "completed", "interrupted", "failed", "diverged", "pruned")


def read_results(run_dir: Path) -> dict[str, Any]:
    """What the run recorded; {} when it recorded nothing or the file cannot be read."""
    try:
        data = json.loads((Path(run_dir) / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_results(run_dir: Path, **fields: Any) -> None:
    """Merge the fit's `fields` into results.json (rank zero only)."""
    _write(Path(run_dir), {**read_results(run_dir), **fields})


def add_evaluation(
    run_dir: Path, command: str, checkpoint: str | None, metrics: dict[str, float], per_class: dict[str, Any] | None = None
) -> None:
    """Record a later `test`/`validate`/`predict` of the run beside, not over, the fit's values;
    a classifier's test adds its `per_class` record (the same fields as the fit's)."""
    record = read_results(run_dir)
    evaluation = {"command": command, "checkpoint": checkpoint, "metrics": metrics, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if per_class:
        evaluation["per_class"] = per_class
    record["evaluations"] = [*(record.get("evaluations") or []), evaluation]
    _write(Path(run_dir), record)


def _write(run_dir: Path, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
    write_atomically(run_dir / RESULTS_FILE, text)


def wall_time_so_far(run_dir: Path) -> float:
    """The wall time earlier segments of a resumed or requeued run already spent."""
    try:
        return float(read_results(run_dir).get("wall_time_s") or 0.0)
    except (TypeError, ValueError):
        return 0.0


__all__ = ["read_results", "update_results", "add_evaluation", "wall_time_so_far", "STATUSES"]
