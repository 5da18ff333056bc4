"""What a fit adds to Lightning, one concern per file."""

from lit_dl.training.ema import EMA

__all__ = ["EMA"]
