"""Nets of a user's own, for tests: what lit-dl must handle that the zoo never does."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class BranchOnValues(nn.Module):
    """A linear layer whose forward makes a Python decision on the values it computes: it trains
    and predicts like any net, but no exporter can trace it (the branch depends on the data)."""

    def __init__(self, input_shape: Sequence[int], num_outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(math.prod(input_shape), num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear(x.flatten(1))
        if float(logits.detach().mean()) > 0:
            return logits * 2
        return logits
