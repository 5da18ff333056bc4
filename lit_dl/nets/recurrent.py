"""Recurrent classifiers/regressors over (B, T, F) sequences: Elman RNN, LSTM, GRU, BiLSTM.

They share one body: a stacked torch recurrent layer, a readout that turns the per-step outputs
into one vector (last step, mean or max over the valid steps), and a linear head.
Padded batches pass `lengths` so padding never leaks into the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lit_dl.errors import UserError
from lit_dl.nets import layers
from lit_dl.nets.layers import lengths_to_mask

Readout = Literal["last", "mean", "max"]


class _RecurrentNet(nn.Module):
    cell: ClassVar[type[nn.RNNBase]]

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        bidirectional: bool = False,
        readout: Readout = "last",
    ) -> None:
        """
        Args:
            input_shape: [T, F]: sequence length and features per step.
            num_outputs: classes, or regression targets.
            hidden_size: hidden units per layer and direction.
            num_layers: stacked recurrent layers.
            dropout: dropout between stacked layers (needs num_layers > 1).
            bidirectional: also read each sequence backwards; doubles the features.
            readout: "last" (final hidden state of each direction), or "mean" / "max"
                over the valid steps of the top layer's outputs.
        """
        super().__init__()
        name = type(self).__name__
        _, num_features = layers.expect_rank(name, input_shape, 2, "[T, F] (steps, features)")
        layers.check_positive(name, num_outputs=num_outputs, hidden_size=hidden_size, num_layers=num_layers)
        layers.check_dropout(name, dropout)
        if readout not in ("last", "mean", "max"):
            raise UserError(f"{name}: readout must be 'last', 'mean' or 'max', got {readout!r}")
        self.readout = readout
        self.num_directions = 2 if bidirectional else 1
        # torch warns when dropout is set on a single layer, where it would do nothing.
        self.rnn = self.cell(
            num_features,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size * self.num_directions, num_outputs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, F); lengths: (B,) valid steps of each padded sequence, or None if all are full."""
        valid = None
        if lengths is None:
            outputs, state = self.rnn(x)
        else:
            valid = lengths_to_mask(lengths.to(x.device), x.size(1))
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            packed_outputs, state = self.rnn(packed)
            outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=x.size(1))
        return self.head(self._read(outputs, state, valid))

    def _read(self, outputs: torch.Tensor, state, valid: torch.Tensor | None) -> torch.Tensor:
        if self.readout == "last":
            hidden = state[0] if isinstance(state, tuple) else state  # LSTM state is (h, c)
            # (layers * directions, B, H): the top layer's directions are the last entries.
            # The backward direction's final state sits at step 0, having read the whole sequence.
            top = hidden[-self.num_directions :]
            return top.transpose(0, 1).flatten(1)
        if valid is None:
            return outputs.mean(1) if self.readout == "mean" else outputs.amax(1)
        valid = valid.unsqueeze(-1)
        if self.readout == "mean":
            return (outputs * valid).sum(1) / valid.sum(1)
        return outputs.masked_fill(~valid, float("-inf")).amax(1)


class RNN(_RecurrentNet):
    """Elman RNN (tanh): the simplest recurrent net; struggles with long-range dependencies."""

    cell = nn.RNN


class LSTM(_RecurrentNet):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997): gated cell state for long sequences."""

    cell = nn.LSTM


class GRU(_RecurrentNet):
    """Gated recurrent unit (Cho et al., 2014): LSTM-like gating with fewer parameters."""

    cell = nn.GRU


class BiLSTM(LSTM):
    """An LSTM that reads each sequence in both directions."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        readout: Readout = "last",
    ) -> None:
        """
        Args:
            input_shape: [T, F]: sequence length and features per step.
            num_outputs: classes, or regression targets.
            hidden_size: hidden units per layer and direction.
            num_layers: stacked LSTM layers.
            dropout: dropout between stacked layers (needs num_layers > 1).
            readout: "last", "mean" or "max" over the valid steps.
        """
        super().__init__(input_shape, num_outputs, hidden_size, num_layers, dropout, True, readout)
