"""Every whole net of the zoo exports to every format, or says in one line why it cannot.

Each net, at a small size with fresh weights, is exported between an identity preprocessing and
class probabilities, read back by its format's own reader (ONNX Runtime, torch.export.load,
safetensors into a freshly built net) and held against the eager net on 16 inputs. The limits
found (a sequence length the file fixes) are the README zoo table's `export` column.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

import lit_dl.nets as nets
from lit_dl.data.inputs import RawInputs
from lit_dl.errors import UserError
from lit_dl.export.check import export_checked
from lit_dl.export.formats import FORMATS
from lit_dl.export.model import ClassProbabilities, UserModel

IMAGE = [3, 8, 8]
SEQUENCE = [6, 4]  # T, F
TRAINED_STEPS = SEQUENCE[0]
# Every whole net: (class, input_shape, init_args).
ZOO = [
    (nets.Perceptron, [4], {}),
    (nets.MLP, [4, 4], dict(hidden_dims=(16,))),
    (nets.SimpleCNN, IMAGE, dict(channels=(4, 8), hidden_dim=16, norm="batch")),
    (nets.ResNet, IMAGE, dict(blocks=(1, 1), widths=(4, 8))),
    (nets.ResNet18, IMAGE, {}),
    (nets.ResNet34, IMAGE, {}),
    (nets.Inception, IMAGE, dict(width_mult=1 / 16, stem_channels=64)),
    (nets.MobileNet, IMAGE, dict(width_mult=0.125)),
    (nets.RNN, SEQUENCE, dict(hidden_size=16, num_layers=1)),
    (nets.LSTM, SEQUENCE, dict(hidden_size=16, num_layers=2, readout="mean")),
    (nets.GRU, SEQUENCE, dict(hidden_size=16, num_layers=1, readout="max")),
    (nets.BiLSTM, SEQUENCE, dict(hidden_size=16, num_layers=2)),
    (nets.TransformerEncoder, SEQUENCE, dict(embed_dim=16, depth=1, num_heads=2)),
    (nets.VisionTransformer, IMAGE, dict(patch_size=4, embed_dim=16, depth=1, num_heads=2)),
]
# What each net's file says about sequence lengths, by format (the README zoo table's limits);
# a net and format not named here takes any batch of its samples with no line said.
FIXED_BY_EXPORTER = f"file takes sequences of exactly {TRAINED_STEPS} steps: its exporter unrolls the recurrent layers over them"
UP_TO_TRAINED = f"takes sequences of 1 to {TRAINED_STEPS} steps: the net itself refuses longer ones"
EXPECTED_LINES = {
    ("MLP", "*"): ["MLP: takes sequences of exactly 4 steps: the net itself runs on no other length"],
    ("RNN", "onnx"): [f"RNN: the onnx {FIXED_BY_EXPORTER}"],
    ("RNN", "torch-export"): [f"RNN: the torch-export {FIXED_BY_EXPORTER}"],
    **{(name, "torch-export"): [f"{name}: the torch-export {FIXED_BY_EXPORTER}"] for name in ("LSTM", "GRU", "BiLSTM")},
    ("TransformerEncoder", "*"): [f"TransformerEncoder: {UP_TO_TRAINED}"],
}


def expected_lines(name: str, format_name: str) -> list[str]:
    return EXPECTED_LINES.get((name, "*"), []) + EXPECTED_LINES.get((name, format_name), [])


def whole_nets() -> set[str]:
    """The nets an experiment names: their first parameters are input_shape and num_outputs."""
    found = set()
    for name in nets.__all__:
        item = getattr(nets, name)
        if isinstance(item, type) and issubclass(item, torch.nn.Module):
            parameters = list(inspect.signature(item.__init__).parameters)[1:3]
            if parameters == ["input_shape", "num_outputs"]:
                found.add(name)
    return found


def test_the_walk_covers_every_whole_net():
    assert {cls.__name__ for cls, *_ in ZOO} == whole_nets()


def user_model_of(cls: type, input_shape: list[int], kwargs: dict) -> UserModel:
    torch.manual_seed(0)
    outputs = 2 if cls is nets.Perceptron else 3
    return UserModel(RawInputs(input_shape), cls(input_shape, outputs, **kwargs), ClassProbabilities()).eval()


def export_one(cls: type, input_shape: list[int], kwargs: dict, format_name: str, folder: Path):
    model = user_model_of(cls, input_shape, kwargs)
    inputs = torch.randn(16, *input_shape, generator=torch.Generator().manual_seed(1))
    path = folder / f"{cls.__name__}{FORMATS[format_name].suffix}"
    try:
        checked = export_checked(format_name, model, inputs, path, {"net": cls.__name__},
                                 fresh_model=lambda: user_model_of(cls, input_shape, kwargs))
    except UserError as refusal:
        assert "\n" not in str(refusal) and str(refusal).startswith(f"{cls.__name__} "), str(refusal)
        return None
    assert path.is_file() and checked.max_difference <= 1e-4
    return checked


@pytest.mark.slow
@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize("cls, input_shape, kwargs", ZOO, ids=[cls.__name__ for cls, *_ in ZOO])
def test_every_zoo_net_exports_or_refuses_in_one_line(cls, input_shape, kwargs, format_name, tmp_path):
    torch.set_num_threads(1)
    checked = export_one(cls, input_shape, kwargs, format_name, tmp_path)
    assert checked is not None, f"{cls.__name__} no longer exports to {format_name}: update the README zoo table"
    assert checked.notes == expected_lines(cls.__name__, format_name)


def test_a_recurrent_net_keeps_its_length_free_in_onnx_but_not_in_torch_export(tmp_path):
    """The one limit of the walk in the default suite (the whole walk: pytest -m slow)."""
    cls, input_shape, kwargs = nets.GRU, SEQUENCE, dict(hidden_size=8, num_layers=1)
    assert export_one(cls, input_shape, kwargs, "onnx", tmp_path).notes == []
    assert export_one(cls, input_shape, kwargs, "torch-export", tmp_path).notes == expected_lines("GRU", "torch-export")
