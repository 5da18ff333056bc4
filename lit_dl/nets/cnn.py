"""A plain convolutional classifier: conv stages with max-pooling, then a fully connected head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from lit_dl.errors import UserError
from lit_dl.nets import layers
from lit_dl.nets.layers import ActivationName, NormName


class ConvBNReLU(nn.Sequential):
    """Conv2d -> [norm] -> activation, "same" padding for odd kernels.

    `norm` names the normalisation (`layers.norm2d`: batch, group, instance, layer or none;
    `norm_groups` is GroupNorm's group count). `groups` is the conv's own grouping (depthwise
    convs). The conv drops its bias under a norm: the norm's own shift makes it redundant.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        norm: NormName = "batch",
        norm_groups: int = 32,
        activation: ActivationName | None = "relu",
    ) -> None:
        norm_layer = layers.norm2d(norm, out_channels, norm_groups)
        modules: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=kernel_size // 2,
                groups=groups,
                bias=norm_layer is None,
            )
        ]
        if norm_layer is not None:
            modules.append(norm_layer)
        if activation is not None:
            modules.append(layers.activation(activation))
        super().__init__(*modules)


class SimpleCNN(nn.Module):
    """Stages of 3x3 conv + 2x2 max-pool, then a hidden linear layer with dropout.

    The defaults give the classic CIFAR-10 net: 32x32 -> 16 -> 8 -> 4, 128*4*4 features.

    Args:
        input_shape: [C, H, W] of one image.
        num_outputs: number of classes (or regression targets).
        channels: output channels of each conv stage; each stage halves H and W.
        hidden_dim: width of the hidden linear layer.
        dropout: dropout before the output layer.
        norm: normalisation after each conv: batch, group, instance, layer or none (the notes'
            net has none).
        norm_groups: GroupNorm's number of channel groups (norm: group).
        spatial_dropout: Dropout2d probability after each stage (whole feature maps dropped).
        activation: activation used everywhere.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        channels: Sequence[int] = (32, 64, 128),
        hidden_dim: int = 512,
        dropout: float = 0.5,
        norm: NormName = "none",
        norm_groups: int = 32,
        spatial_dropout: float = 0.0,
        activation: ActivationName = "relu",
    ) -> None:
        super().__init__()
        in_channels, height, width = layers.expect_rank("SimpleCNN", input_shape, 3, "[3, 32, 32]")
        layers.check_positive("SimpleCNN", num_outputs=num_outputs, hidden_dim=hidden_dim, channels=channels)
        layers.check_dropout("SimpleCNN", dropout)
        layers.check_dropout("SimpleCNN", spatial_dropout, "spatial_dropout")
        if not channels:
            raise UserError("SimpleCNN: channels needs at least one stage, e.g. [32, 64, 128]")

        stages: list[nn.Module] = []
        for out_channels in channels:
            stages += [
                ConvBNReLU(in_channels, out_channels, norm=norm, norm_groups=norm_groups, activation=activation),
                nn.MaxPool2d(2),
                *layers.spatial_dropout(spatial_dropout),
            ]
            in_channels, height, width = out_channels, height // 2, width // 2
        if height < 1 or width < 1:
            raise UserError(
                f"SimpleCNN: {len(channels)} pooling stages shrink a {list(input_shape)[1:]} image "
                f"to nothing; use fewer channels entries or larger images"
            )
        self.features = nn.Sequential(*stages)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * height * width, hidden_dim),
            layers.activation(activation),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, num_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
