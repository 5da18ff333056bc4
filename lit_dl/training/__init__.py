"""What a fit adds to Lightning: checkpoint IO, resume, signals, divergence, monitors, defaults,
weight averaging.

One concern per module; callbacks are importable from here for YAML (`lit_dl.training.X`).
"""

from lit_dl.training.ema import EMA
from lit_dl.training.monitors import GradientNormMonitor
from lit_dl.training.progress import LineProgressBar

__all__ = ["EMA", "GradientNormMonitor", "LineProgressBar"]
