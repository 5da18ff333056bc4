"""Input standardisation fitted on the training split, in the way that fits the data's kind.

- `feature`: one mean and scale per input value (each column of a table, each pixel);
- `channel`: one per channel of an image `[C, H, W]`, per feature of a sequence `[T, F]`, per
  column of a flat vector `[D]` (where it equals `feature`): the values of a channel share a scale;
- `global`: one for the whole input;
- `none`: inputs as they are.

The scale is the standard deviation, raised to a floor of `std_floor` times the largest distance
of a training value from the mean, so that no training value lands further than 1 / std_floor
scales from the mean (5 for the default 0.2): a nearly constant feature (a border pixel lit in a
handful of images, a rare one-hot column) cannot blow a value up to 50, while an ordinary one is
left alone (a normal feature's values stay within 5 standard deviations). A constant feature is
centred and left unscaled. `clip_quantile` fits the mean and scale on values clipped to their
[q, 1 - q] quantiles, so that a few huge values (heavy tails) do not squash all the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from lit_dl.errors import UserError

Mode = Literal["feature", "channel", "global", "none"]
MODES: tuple[str, ...] = ("feature", "channel", "global", "none")


def default_mode(input_shape: Sequence[int]) -> Mode:
    """`channel` for images `[C, H, W]` and sequences `[T, F]`, `feature` for flat vectors."""
    return "feature" if len(input_shape) == 1 else "channel"


def resolve_mode(standardize: str | bool, input_shape: Sequence[int]) -> Mode:
    """The mode `standardize` asks for: `auto` (or true) picks it from the shape, false is `none`."""
    if standardize is True or standardize == "auto":
        return default_mode(input_shape)
    if standardize is False:
        return "none"
    if standardize not in MODES:
        raise UserError(f"standardize must be auto, {', '.join(MODES)} (or true/false), got {standardize!r}")
    return standardize  # type: ignore[return-value]


def statistic_axes(mode: Mode, sample_ndim: int) -> tuple[int, ...]:
    """The axes of a batch `(N, *input_shape)` that one mean and scale span."""
    if mode == "feature":
        return (0,)
    if mode == "global":
        return tuple(range(sample_ndim + 1))
    if sample_ndim <= 2:  # [D]: each column; [T, F]: each feature, over samples and steps
        return tuple(range(sample_ndim))
    return (0, *range(2, sample_ndim + 1))  # [C, H, W] and beyond: each channel


class InputScaler:
    """`(x - mean) / scale` for one sample or a batch, with statistics shaped like one sample, of
    size 1 along the axes they span (`[C, 1, 1]` per channel of an image); `mode` none keeps
    inputs as they are."""

    def __init__(self, mode: Mode, mean: Tensor | None = None, scale: Tensor | None = None) -> None:
        self.mode, self.mean, self.scale = mode, mean, scale

    @classmethod
    def fit(cls, x: Tensor, mode: Mode, std_floor: float = 0.2, clip_quantile: float = 0.0) -> InputScaler:
        """Statistics of the training inputs `x` `(N, *input_shape)`."""
        check_options(std_floor, clip_quantile)
        if mode == "none":
            return cls(mode)
        axes = statistic_axes(mode, x.dim() - 1)
        kept = [axis for axis in range(x.dim()) if axis not in axes]
        shape = [size if axis in kept else 1 for axis, size in enumerate(x.shape)]
        # One column per statistic: the values it spans down the rows.
        columns = x.permute(*axes, *kept).reshape(math.prod(x.shape[a] for a in axes), -1).double()
        if clip_quantile > 0:
            low, high = np.quantile(columns.numpy(), [clip_quantile, 1 - clip_quantile], axis=0)
            columns = columns.clamp(torch.from_numpy(low), torch.from_numpy(high))
        std, mean = torch.std_mean(columns, dim=0) if len(columns) > 1 else (torch.zeros(columns.shape[1]), columns[0])
        farthest = (columns - mean).abs().amax(dim=0)
        scale = torch.maximum(std, std_floor * farthest)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant: centred, not scaled
        return cls(mode, mean.float().reshape(shape[1:]), scale.float().reshape(shape[1:]))

    def __call__(self, x: Tensor) -> Tensor:
        if self.mean is None or self.scale is None:
            return x
        return (x - self.mean.to(x.device)) / self.scale.to(x.device)

    def state_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> InputScaler:
        return cls(state["mode"], state.get("mean"), state.get("scale"))


def check_options(std_floor: float, clip_quantile: float) -> None:
    if not 0 <= std_floor < 1:
        raise UserError(f"std_floor must be in [0, 1) (a fraction of the largest deviation from the mean), got {std_floor}")
    if not 0 <= clip_quantile < 0.5:
        raise UserError(f"clip_quantile must be in [0, 0.5) (e.g. 0.01 fits on the 1st-99th percentiles), got {clip_quantile}")
