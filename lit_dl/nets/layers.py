"""Shared pieces for every net: activations by name, weight init schemes, shape helpers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn as nn

from lit_dl.errors import UserError

ActivationName = Literal["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "swish", "selu"]
InitScheme = Literal["default", "xavier", "kaiming", "lecun"]
NormName = Literal["batch", "group", "instance", "layer", "none"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,  # same function; both names are in common use
    "selu": nn.SELU,  # self-normalising (Klambauer et al., 2017): pair with lecun init, alpha dropout
}
ACTIVATION_NAMES: tuple[str, ...] = tuple(_ACTIVATIONS)
INIT_SCHEMES: tuple[str, ...] = ("default", "xavier", "kaiming", "lecun")
NORM_NAMES: tuple[str, ...] = ("batch", "group", "instance", "layer", "none")

# Layers whose weight is a plain (out, in, ...) matrix or kernel that the schemes know how to fill.
_WEIGHTED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def activation(name: str) -> nn.Module:
    """A fresh activation module for `name` (case-insensitive), e.g. `activation("gelu")`."""
    key = str(name).lower()
    if key not in _ACTIVATIONS:
        raise UserError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATION_NAMES)}"
        )
    return _ACTIVATIONS[key]()


def init_weights(module: nn.Module, scheme: str = "default") -> nn.Module:
    """Re-initialise every Linear/Conv layer inside `module` and return it.

    "default" keeps PyTorch's own init; "xavier" suits tanh/sigmoid nets, "kaiming" ReLU nets
    (He et al.: variance 2/fan_in keeps activations from shrinking layer after layer), "lecun"
    SELU nets (variance 1/fan_in, the fixed point self-normalisation assumes).
    Biases start at zero under every explicit scheme.
    """
    if scheme not in INIT_SCHEMES:
        raise UserError(f"unknown init scheme {scheme!r}; choose one of: {', '.join(INIT_SCHEMES)}")
    if scheme == "default":
        return module
    for layer in module.modules():
        if not isinstance(layer, _WEIGHTED_LAYERS):
            continue
        if scheme == "xavier":
            nn.init.xavier_uniform_(layer.weight)
        elif scheme == "lecun":
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="linear")
        else:
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return module


def norm2d(name: str, channels: int, groups: int = 32) -> nn.Module | None:
    """The normalisation layer called `name` for `channels` feature maps, or None for "none".

    - "batch": BatchNorm2d, statistics over the batch (and running averages for evaluation).
    - "group": GroupNorm (Wu & He, 2018) over `groups` groups of channels per sample; a layer
      whose channels `groups` does not divide gets the largest group count below it that does.
    - "instance": InstanceNorm2d with a learned per-channel scale and shift, each map on its own.
    - "layer": all of a sample's (C, H, W) values together, i.e. GroupNorm with one group: the
      same statistics as `nn.LayerNorm([C, H, W])` but with a per-channel scale and shift, so it
      fits any image size.
    All but "none" learn 2 * channels parameters, as BatchNorm2d does.
    """
    key = str(name).lower()
    if key == "batch":
        return nn.BatchNorm2d(channels)
    if key == "group":
        if groups < 1:
            raise UserError(f"norm_groups must be at least 1, got {groups}")
        dividing = max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)
        return nn.GroupNorm(dividing, channels)
    if key == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if key == "layer":
        return nn.GroupNorm(1, channels)
    if key == "none":
        return None
    raise UserError(f"unknown norm {name!r}; choose one of: {', '.join(NORM_NAMES)}")


def spatial_dropout(p: float) -> list[nn.Module]:
    """`[Dropout2d(p)]` (whole feature maps zeroed together) when p > 0, else nothing, so a net
    without it keeps the module layout of its checkpoints."""
    return [nn.Dropout2d(p)] if p > 0 else []


def as_shape(input_shape: int | Sequence[int]) -> tuple[int, ...]:
    """`input_shape` as a tuple of ints; a bare int means a flat vector of that size."""
    if isinstance(input_shape, int):
        return (input_shape,)
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d <= 0 for d in shape):
        raise UserError(f"input_shape must be positive sizes such as [3, 32, 32]; got {input_shape!r}")
    return shape


def flat_size(input_shape: int | Sequence[int]) -> int:
    """How many numbers one sample holds once flattened."""
    return math.prod(as_shape(input_shape))


def expect_rank(net: str, input_shape: int | Sequence[int], rank: int, example: str) -> tuple[int, ...]:
    """Check `input_shape` has `rank` dims (e.g. [C, H, W]) and return it as a tuple."""
    shape = as_shape(input_shape)
    if len(shape) != rank:
        raise UserError(
            f"{net} needs input_shape like {example}, got {list(shape)}; "
            f"pick a net that matches the data"
        )
    return shape


def check_positive(net: str, **values: int | Sequence[int]) -> None:
    """Raise a UserError naming the first size (or list of sizes) with an entry below 1."""
    for name, value in values.items():
        entries = value if isinstance(value, Sequence) else [value]
        if any(int(entry) < 1 for entry in entries):
            shown = list(value) if isinstance(value, Sequence) else value
            raise UserError(f"{net}: {name} must be at least 1, got {shown}")


def check_dropout(net: str, dropout: float, name: str = "dropout") -> None:
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"{net}: {name} must be in [0, 1), got {dropout}")


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, max_len) bool mask, True on the valid steps of each sequence."""
    if lengths.dim() != 1 or bool((lengths < 1).any()) or bool((lengths > max_len).any()):
        raise UserError(
            f"sequence lengths must be a 1-D tensor of values in 1..{max_len}; got {lengths.tolist()}"
        )
    steps = torch.arange(max_len, device=lengths.device)
    return steps[None, :] < lengths[:, None]
