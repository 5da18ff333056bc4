"""The net that suits the data's shape: one experiment file for tables, images and sequences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from lit_dl.errors import UserError
from lit_dl.nets.cnn import SimpleCNN
from lit_dl.nets.mlp import MLP
from lit_dl.nets.recurrent import GRU

# The arrays_mlp, arrays_cnn and arrays_gru recipes' nets (measured in benchmarks/quality.md).
MLP_DEFAULTS: dict[str, Any] = {"hidden_dims": [256, 128], "dropout": 0.1}
CNN_DEFAULTS: dict[str, Any] = {"channels": [32, 64], "hidden_dim": 128, "dropout": 0.2, "norm": "batch"}
GRU_DEFAULTS: dict[str, Any] = {"hidden_size": 128, "num_layers": 1, "readout": "last"}


class NetForShape(nn.Module):
    """Becomes an `MLP` for flat vectors `[D]`, a `SimpleCNN` for images `[C, H, W]` and a `GRU`
    for sequences `[T, F]`, each with the settings of its `arrays_*` recipe:

        net:
          class_path: lit_dl.nets.NetForShape
          init_args: {cnn: {channels: [32, 64, 128]}}   # optional: overrides for one family

    The net built is the one the run summary names (`Classifier with SimpleCNN`) and results.json
    records (`net`); its checkpoint is that net's.

    Args:
        input_shape: the shape of one sample (linked from the data).
        num_outputs: classes, or regression targets (linked from the data).
        mlp: init args for the MLP, over the defaults {hidden_dims: [256, 128], dropout: 0.1}.
        cnn: init args for the SimpleCNN, over {channels: [32, 64], hidden_dim: 128, dropout:
            0.2, norm: batch}.
        gru: init args for the GRU, over {hidden_size: 128, num_layers: 1, readout: last}.
    """

    def __new__(
        cls,
        input_shape: Sequence[int],
        num_outputs: int,
        mlp: dict[str, Any] | None = None,
        cnn: dict[str, Any] | None = None,
        gru: dict[str, Any] | None = None,
    ) -> nn.Module:
        rank = len(input_shape)
        if rank == 1:
            return MLP(input_shape, num_outputs, **{**MLP_DEFAULTS, **(mlp or {})})
        if rank == 2:
            return GRU(input_shape, num_outputs, **{**GRU_DEFAULTS, **(gru or {})})
        if rank == 3:
            return SimpleCNN(input_shape, num_outputs, **{**CNN_DEFAULTS, **(cnn or {})})
        raise UserError(
            f"NetForShape builds nets for [D], [T, F] and [C, H, W] samples, got input_shape {list(input_shape)}; "
            "set data.init_args.input_shape, or name a net yourself"
        )

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        mlp: dict[str, Any] | None = None,
        cnn: dict[str, Any] | None = None,
        gru: dict[str, Any] | None = None,
    ) -> None:
        # Never runs: `__new__` returns the MLP, SimpleCNN or GRU. It gives the parser the arguments.
        super().__init__()
