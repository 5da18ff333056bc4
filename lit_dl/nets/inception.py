"""GoogLeNet (Szegedy et al., 2014): stacks of Inception modules, with a stem sized for 32x32 images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from lit_dl.errors import UserError
from lit_dl.nets import layers
from lit_dl.nets.cnn import ConvBNReLU
from lit_dl.nets.layers import NormName


class InceptionModule(nn.Module):
    """Four parallel branches joined along channels: 1x1, 1x1->3x3, 1x1->5x5, 3x3 max-pool->1x1.

    The 1x1 "reduce" convs shrink the channels before the costly 3x3 and 5x5 convs.
    """

    def __init__(
        self,
        in_channels: int,
        out_1x1: int,
        reduce_3x3: int,
        out_3x3: int,
        reduce_5x5: int,
        out_5x5: int,
        pool_proj: int,
        norm: NormName = "batch",
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        normed = dict(norm=norm, norm_groups=norm_groups)
        self.branch_1x1 = ConvBNReLU(in_channels, out_1x1, kernel_size=1, **normed)
        self.branch_3x3 = nn.Sequential(
            ConvBNReLU(in_channels, reduce_3x3, kernel_size=1, **normed),
            ConvBNReLU(reduce_3x3, out_3x3, kernel_size=3, **normed),
        )
        self.branch_5x5 = nn.Sequential(
            ConvBNReLU(in_channels, reduce_5x5, kernel_size=1, **normed),
            ConvBNReLU(reduce_5x5, out_5x5, kernel_size=5, **normed),
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            ConvBNReLU(in_channels, pool_proj, kernel_size=1, **normed),
        )
        self.out_channels = out_1x1 + out_3x3 + out_5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch_1x1, self.branch_3x3, self.branch_5x5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


# GoogLeNet's table: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) per module;
# "pool" halves the resolution between the groups 3, 4 and 5.
GOOGLENET_LAYOUT: tuple = (
    (64, 96, 128, 16, 32, 32),  # 3a
    (128, 128, 192, 32, 96, 64),  # 3b
    "pool",
    (192, 96, 208, 16, 48, 64),  # 4a
    (160, 112, 224, 24, 64, 64),  # 4b
    (128, 128, 256, 24, 64, 64),  # 4c
    (112, 144, 288, 32, 64, 64),  # 4d
    (256, 160, 320, 32, 128, 128),  # 4e
    "pool",
    (256, 160, 320, 32, 128, 128),  # 5a
    (384, 192, 384, 48, 128, 128),  # 5b
)


class Inception(nn.Module):
    """GoogLeNet for small images: a 3x3 stem at full resolution instead of ImageNet's
    stride-4 stem, so 32x32 inputs reach the last modules at 8x8.
    Batch norm in every conv replaces the original auxiliary classifiers.

    Args:
        input_shape: [C, H, W] of one image.
        num_outputs: number of classes.
        width_mult: scales every conv's channels (0.25 gives a net ~16x cheaper).
        stem_channels: channels of the 3x3 stem conv, before `width_mult`.
        dropout: dropout before the linear head (GoogLeNet used 0.4).
        norm: normalisation after every conv: batch, group, instance, layer or none.
        norm_groups: GroupNorm's number of channel groups (norm: group).
        spatial_dropout: Dropout2d probability after each Inception module.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        width_mult: float = 1.0,
        stem_channels: int = 192,
        dropout: float = 0.4,
        norm: NormName = "batch",
        norm_groups: int = 32,
        spatial_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels, _, _ = layers.expect_rank("Inception", input_shape, 3, "[3, 32, 32]")
        layers.check_positive("Inception", num_outputs=num_outputs, stem_channels=stem_channels)
        layers.check_dropout("Inception", dropout)
        layers.check_dropout("Inception", spatial_dropout, "spatial_dropout")
        normed = dict(norm=norm, norm_groups=norm_groups)
        if width_mult <= 0:
            raise UserError(f"Inception: width_mult must be positive, got {width_mult}")

        def scaled(channels: int) -> int:
            return max(1, round(channels * width_mult))

        channels = scaled(stem_channels)
        body: list[nn.Module] = [ConvBNReLU(in_channels, channels, **normed)]
        for entry in GOOGLENET_LAYOUT:
            if entry == "pool":
                body.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
                continue
            module = InceptionModule(channels, *(scaled(c) for c in entry), **normed)
            body += [module, *layers.spatial_dropout(spatial_dropout)]
            channels = module.out_channels
        self.features = nn.Sequential(*body)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_outputs)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
