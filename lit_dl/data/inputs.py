"""What a DataModule does to a user's own inputs before the net sees them, as one torch module.

`lit-dl export` and `lit_dl.load_run` put it in front of the net, so that an exported model takes
inputs as a user has them (an image's 0-255 pixels, the rows of an `.npz` file) rather than the
scaled tensors of training. Every step is a plain tensor operation, so it exports with the net.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class RawInputs(nn.Module):
    """Maps a batch of raw samples `(B, *raw_shape)` to the net's inputs `(B, *input_shape)`:
    moves the axes (`permute`, per sample), reshapes, divides by `scale`, then subtracts `mean`
    and divides by `std` (both broadcast against one sample, kept as buffers so that they travel
    with the weights).

    Args:
        raw_shape: one sample as the user has it, e.g. [32, 32, 3] for an image's pixels.
        input_shape: one sample as the net reads it, e.g. [3, 32, 32].
        permute: the raw axes in the order the net reads them, e.g. (2, 0, 1) for HWC -> CHW.
        scale: raw values are divided by it first (255 for 8-bit pixels).
        mean, std: per-feature (per-channel) statistics the DataModule standardised with.
        what: a few words on where the statistics come from, for `describe()`.
    """

    def __init__(
        self,
        raw_shape: Sequence[int],
        input_shape: Sequence[int] | None = None,
        permute: Sequence[int] | None = None,
        scale: float = 1.0,
        mean: Tensor | None = None,
        std: Tensor | None = None,
        what: str = "",
    ) -> None:
        super().__init__()
        self.raw_shape = tuple(raw_shape)
        self.input_shape = tuple(input_shape) if input_shape is not None else self.raw_shape
        self.permute = tuple(permute) if permute is not None else None
        self.scale = float(scale)
        self.what = what
        self.register_buffer("mean", None if mean is None else mean.detach().float().clone())
        self.register_buffer("std", None if std is None else std.detach().float().clone())

    def forward(self, x: Tensor) -> Tensor:
        x = x.float()
        if self.permute is not None:
            x = x.permute(0, *(axis + 1 for axis in self.permute))
        if self.input_shape != self.raw_shape and self.permute is None:
            x = x.reshape(x.shape[0], *self.input_shape)
        if self.scale != 1.0:
            x = x / self.scale
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def describe(self) -> str:
        """What the module does, in words: `reshaped to [1, 8, 8], standardised (...)`."""
        steps = []
        if self.permute is not None:
            steps.append(f"axes {list(self.raw_shape)} -> {list(self.input_shape)}")
        elif self.input_shape != self.raw_shape:
            steps.append(f"reshaped to {list(self.input_shape)}")
        if self.scale != 1.0:
            steps.append(f"divided by {self.scale:g}")
        if self.mean is not None:
            steps.append(f"standardised{f' ({self.what})' if self.what else ''}")
        return ", ".join(steps) or "none: the net reads them as they are"

