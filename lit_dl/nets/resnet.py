"""Residual networks (He et al., 2015) with basic blocks; a CIFAR stem or the ImageNet one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from lit_dl.errors import UserError
from lit_dl.nets import layers
from lit_dl.nets.cnn import ConvBNReLU
from lit_dl.nets.layers import NormName

Stem = Literal["cifar", "imagenet"]


class BasicBlock(nn.Module):
    """Two 3x3 convs plus a shortcut; the shortcut is a 1x1 conv projection when the shape changes."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, norm: NormName = "batch", norm_groups: int = 32
    ) -> None:
        super().__init__()
        normed = dict(norm=norm, norm_groups=norm_groups)
        self.conv1 = ConvBNReLU(in_channels, out_channels, stride=stride, **normed)
        # No activation before the sum: the block learns a residual, ReLU comes after adding.
        self.conv2 = ConvBNReLU(out_channels, out_channels, activation=None, **normed)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = ConvBNReLU(
                in_channels, out_channels, kernel_size=1, stride=stride, activation=None, **normed
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet(nn.Module):
    """A ResNet of basic blocks: stem, one stage per entry of `blocks`, global pooling, linear head.

    Args:
        input_shape: [C, H, W] of one image.
        num_outputs: number of classes.
        blocks: basic blocks per stage; every stage after the first halves H and W.
        widths: channels of each stage, as many as `blocks`.
        stem: "cifar" (3x3 conv, full resolution, for 32x32 images) or
            "imagenet" (7x7 stride-2 conv and max-pool, for 224x224 images).
        norm: normalisation after every conv: batch, group, instance, layer or none.
        norm_groups: GroupNorm's number of channel groups (norm: group).
        spatial_dropout: Dropout2d probability after each stage.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        blocks: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        stem: Stem = "cifar",
        norm: NormName = "batch",
        norm_groups: int = 32,
        spatial_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels, _, _ = layers.expect_rank(type(self).__name__, input_shape, 3, "[3, 32, 32]")
        if len(blocks) != len(widths) or not blocks:
            raise UserError(
                f"ResNet: blocks {list(blocks)} and widths {list(widths)} need the same, "
                f"non-zero length (one entry per stage)"
            )
        layers.check_positive("ResNet", num_outputs=num_outputs, blocks=blocks, widths=widths)
        layers.check_dropout("ResNet", spatial_dropout, "spatial_dropout")
        normed = dict(norm=norm, norm_groups=norm_groups)

        if stem == "cifar":
            self.stem: nn.Module = ConvBNReLU(in_channels, widths[0], **normed)
        elif stem == "imagenet":
            self.stem = nn.Sequential(
                ConvBNReLU(in_channels, widths[0], kernel_size=7, stride=2, **normed),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        else:
            raise UserError(f"ResNet: stem must be 'cifar' or 'imagenet', got {stem!r}")

        stages: list[nn.Module] = []
        channels = widths[0]
        for index, (depth, width) in enumerate(zip(blocks, widths)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(channels, width, stride, **normed)]
            stage += [BasicBlock(width, width, **normed) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*stage, *layers.spatial_dropout(spatial_dropout)))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.stages(self.stem(x))).flatten(1))


class _FixedDepthResNet(ResNet):
    """A ResNet whose blocks per stage the subclass fixes (`DEPTHS`), widths 64-512."""

    DEPTHS: tuple[int, ...] = ()

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        stem: Stem = "cifar",
        norm: NormName = "batch",
        norm_groups: int = 32,
        spatial_dropout: float = 0.0,
    ) -> None:
        super().__init__(
            input_shape, num_outputs, blocks=self.DEPTHS, stem=stem,
            norm=norm, norm_groups=norm_groups, spatial_dropout=spatial_dropout,
        )  # fmt: skip


class ResNet18(_FixedDepthResNet):
    """ResNet-18: [2, 2, 2, 2] basic blocks, widths 64-512."""

    DEPTHS = (2, 2, 2, 2)


class ResNet34(_FixedDepthResNet):
    """ResNet-34: [3, 4, 6, 3] basic blocks, widths 64-512."""

    DEPTHS = (3, 4, 6, 3)
