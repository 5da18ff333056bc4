"""Fully connected nets over the flattened input: the perceptron and the multi-layer perceptron."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn as nn

from lit_dl.errors import UserError
from lit_dl.nets import layers
from lit_dl.nets.layers import ActivationName, InitScheme


class Perceptron(nn.Module):
    """One linear unit over the flattened input: a single logit per sample, shape (B, 1).

    Pair it with `BCEWithLogitsLoss`; no sigmoid here so the loss stays numerically stable.
    `num_outputs` may be 2 because a binary DataModule reports two classes.
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int) -> None:
        super().__init__()
        if num_outputs not in (1, 2):
            raise UserError(
                f"Perceptron gives one binary logit, so it fits 2-class data only "
                f"(got num_outputs={num_outputs}); use lit_dl.nets.MLP for more classes"
            )
        self.linear = nn.Linear(layers.flat_size(input_shape), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class MLP(nn.Module):
    """Linear -> [norm] -> activation -> [dropout] per hidden layer, then a linear head.

    Args:
        input_shape: shape of one sample; it is flattened.
        num_outputs: classes, or regression targets.
        hidden_dims: width of each hidden layer; empty gives a linear model.
        activation: activation after each hidden layer.
        dropout: dropout probability after each hidden activation.
        norm: "batch" or "layer" normalisation before each activation, or None.
        init: weight init scheme ("default" keeps PyTorch's; "lecun" for selu).
        alpha_dropout: AlphaDropout instead of Dropout: it drops to SELU's negative saturation
            value and rescales so activations keep zero mean and unit variance, which plain
            dropout would break. None (the default) uses it exactly when the activation is selu.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        hidden_dims: Sequence[int] = (64, 32),
        activation: ActivationName = "relu",
        dropout: float = 0.0,
        norm: Literal["batch", "layer"] | None = None,
        init: InitScheme = "default",
        alpha_dropout: bool | None = None,
    ) -> None:
        super().__init__()
        layers.check_positive("MLP", num_outputs=num_outputs, hidden_dims=hidden_dims)
        layers.check_dropout("MLP", dropout)
        if norm not in (None, "batch", "layer"):
            raise UserError(f"MLP: norm must be 'batch', 'layer' or null, got {norm!r}")

        if alpha_dropout is None:
            alpha_dropout = str(activation).lower() == "selu"
        dropout_class = nn.AlphaDropout if alpha_dropout else nn.Dropout
        blocks: list[nn.Module] = []
        width = layers.flat_size(input_shape)
        for hidden in hidden_dims:
            blocks.append(nn.Linear(width, hidden))
            if norm == "batch":
                blocks.append(nn.BatchNorm1d(hidden))
            elif norm == "layer":
                blocks.append(nn.LayerNorm(hidden))
            blocks.append(layers.activation(activation))
            if dropout > 0:
                blocks.append(dropout_class(dropout))
            width = hidden
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(width, num_outputs)
        layers.init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.flatten(1)))
