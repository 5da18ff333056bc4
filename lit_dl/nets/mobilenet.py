"""MobileNet (Howard et al., 2017): depthwise-separable convs, here with optional
squeeze-and-excitation (Hu et al., 2018) in every block."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn as nn

from lit_dl.errors import UserError
from lit_dl.nets import layers
from lit_dl.nets.cnn import ConvBNReLU
from lit_dl.nets.layers import ActivationName, NormName


class SEBlock(nn.Module):
    """Squeeze-and-excitation: rescale each channel by a gate computed from global context."""

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 8) -> None:
        super().__init__()
        hidden = max(min_hidden, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, hidden),
            nn.ReLU(),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]


class DepthwiseSeparableConv(nn.Module):
    """A per-channel 3x3 conv (spatial mixing) then a 1x1 conv (channel mixing), each normalised.

    Costs about 1/9 + 1/out_channels of a full 3x3 conv for the same shapes.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        kernel_size: int = 3,
        se: bool = False,
        se_reduction: int = 16,
        activation: ActivationName = "relu",
        norm: NormName = "batch",
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        normed = dict(norm=norm, norm_groups=norm_groups, activation=activation)
        self.depthwise = ConvBNReLU(in_channels, in_channels, kernel_size, stride=stride, groups=in_channels, **normed)
        self.se: nn.Module = SEBlock(in_channels, se_reduction) if se else nn.Identity()
        self.pointwise = ConvBNReLU(in_channels, out_channels, kernel_size=1, **normed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.se(self.depthwise(x)))


# MobileNet v1's body: (output channels, stride) of each depthwise-separable block.
MOBILENET_LAYOUT: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)  # fmt: skip


def _round_channels(channels: float, divisor: int = 8) -> int:
    """Round to a multiple of `divisor` (hardware-friendly), never dropping more than 10%."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


class MobileNet(nn.Module):
    """MobileNet v1 with optional SE gates, for CIFAR-sized or ImageNet-sized images.

    Args:
        input_shape: [C, H, W] of one image.
        num_outputs: number of classes.
        width_mult: scales every layer's channels (rounded to multiples of 8).
        se: add a squeeze-and-excitation gate to every block.
        se_reduction: SE bottleneck ratio.
        activation: activation in every conv block.
        dropout: dropout before the linear head.
        stem: "cifar" keeps full resolution in the stem (32x32 -> 2x2 at the end);
            "imagenet" uses the original stride-2 stem.
        norm: normalisation after every conv: batch, group, instance, layer or none.
        norm_groups: GroupNorm's number of channel groups (norm: group).
        spatial_dropout: Dropout2d probability after each depthwise-separable block.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        width_mult: float = 1.0,
        se: bool = True,
        se_reduction: int = 16,
        activation: ActivationName = "relu",
        dropout: float = 0.2,
        stem: Literal["cifar", "imagenet"] = "cifar",
        norm: NormName = "batch",
        norm_groups: int = 32,
        spatial_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels, _, _ = layers.expect_rank("MobileNet", input_shape, 3, "[3, 32, 32]")
        layers.check_positive("MobileNet", num_outputs=num_outputs, se_reduction=se_reduction)
        layers.check_dropout("MobileNet", dropout)
        layers.check_dropout("MobileNet", spatial_dropout, "spatial_dropout")
        normed = dict(norm=norm, norm_groups=norm_groups, activation=activation)
        if width_mult <= 0:
            raise UserError(f"MobileNet: width_mult must be positive, got {width_mult}")
        if stem not in ("cifar", "imagenet"):
            raise UserError(f"MobileNet: stem must be 'cifar' or 'imagenet', got {stem!r}")

        channels = _round_channels(32 * width_mult)
        body: list[nn.Module] = [ConvBNReLU(in_channels, channels, stride=2 if stem == "imagenet" else 1, **normed)]
        for out_channels, stride in MOBILENET_LAYOUT:
            out_channels = _round_channels(out_channels * width_mult)
            body += [
                DepthwiseSeparableConv(channels, out_channels, stride, se=se, se_reduction=se_reduction, **normed),
                *layers.spatial_dropout(spatial_dropout),
            ]
            channels = out_channels
        self.features = nn.Sequential(*body)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_outputs)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
