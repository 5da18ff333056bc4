"""What an evaluation tells the user and leaves in the run: the one `test:`/`val:` line, and a
classifier's per-class results with its confusion matrix drawn into the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lit_dl.plots import plot_confusion_matrix

CONFUSION_MATRIX_FIGURE = "confusion_matrix.png"  # of the fit's test


def metrics_line(stage: str, metrics: dict[str, float]) -> str:
    """`test: test/acc 0.9780  test/loss 0.1108`, the same after fit and after `lit-dl test`."""
    return f"{stage}: " + "  ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))


def figure_name(checkpoint: Any | None) -> str:
    """The fit's test draws confusion_matrix.png; a later test of a checkpoint its own
    confusion_matrix_<checkpoint>.png, so the fit's figure stays as it was."""
    return CONFUSION_MATRIX_FIGURE if checkpoint is None else f"confusion_matrix_{Path(str(checkpoint)).stem}.png"


def per_class_results(task: Any, run_dir: Path, figure: str) -> dict[str, Any]:
    """A classifier's last test per class (see `Classifier.test_per_class`), its confusion matrix
    drawn into the run directory as `figure`; {} for other tasks."""
    per_class = getattr(task, "test_per_class", None)
    if not per_class:
        return {}
    plot_confusion_matrix(per_class["confusion_matrix"], per_class["labels"], Path(run_dir) / figure)
    return {"per_class": {**per_class, "figure": figure}}
