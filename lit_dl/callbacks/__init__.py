"""lit-dl's own callbacks; Lightning's (EarlyStopping, ModelCheckpoint, ...) are used as they are."""

from lit_dl.callbacks.grad_norm import GradientNormMonitor
from lit_dl.callbacks.progress import LineProgressBar

__all__ = ["GradientNormMonitor", "LineProgressBar"]
