"""SyntheticSequenceDataModule and the per-problem generators."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import pytest
import torch

from lit_dl.data import SyntheticSequenceDataModule, generate_sequences
from lit_dl.data.sequences import MOTIF_AMPLITUDE, MOTIF_LENGTH, PROBLEMS
from lit_dl.errors import UserError

SMALL = dict(seq_len=20, n_train=64, n_val=32, n_test=16, batch_size=16)

# problem -> (features per step, task, num_outputs, num_classes)
EXPECTED = {
    "adding": (2, "regression", 1, None),
    "parity": (1, "classification", 2, 2),
    "majority": (1, "classification", 2, 2),
    "sine": (1, "regression", 1, None),
    "pattern": (4, "classification", 4, 4),
}


@pytest.mark.parametrize("problem", PROBLEMS)
def test_contract_shapes_and_dtypes(problem):
    features, task, num_outputs, num_classes = EXPECTED[problem]
    datamodule = SyntheticSequenceDataModule(problem=problem, **SMALL)
    assert (datamodule.seq_len, datamodule.num_features) == (20, features)
    assert datamodule.input_shape == (20, features)
    assert (datamodule.task, datamodule.num_outputs, datamodule.num_classes) == (task, num_outputs, num_classes)
    sizes = {split: len(datamodule.splits[split][0]) for split in ("train", "val", "test")}
    assert sizes == {"train": 64, "val": 32, "test": 16}

    batches = list(datamodule.train_dataloader())
    assert len(batches) == 4
    x, y = batches[0]
    assert x.shape == (16, 20, features) and x.dtype == torch.float32
    if task == "classification":
        assert y.shape == (16,) and y.dtype == torch.int64
        assert 0 <= y.min() and y.max() < num_classes
    else:
        assert y.shape == (16, num_outputs) and y.dtype == torch.float32


@pytest.mark.parametrize("problem", PROBLEMS)
def test_same_seed_same_data(problem):
    first = SyntheticSequenceDataModule(problem=problem, **SMALL)
    second = SyntheticSequenceDataModule(problem=problem, **SMALL)
    other = SyntheticSequenceDataModule(problem=problem, seed=1, **SMALL)
    for split in ("train", "val", "test"):
        for a, b in zip(first.splits[split], second.splits[split]):
            assert torch.equal(a, b)
    assert not torch.equal(first.splits["train"][0], other.splits["train"][0])
    for (x_a, y_a), (x_b, y_b) in zip(first.train_dataloader(), second.train_dataloader()):
        assert torch.equal(x_a, x_b) and torch.equal(y_a, y_b)


def test_adding_baseline_is_one_sixth():
    x, y = generate_sequences("adding", 20000, 30, 2, torch.Generator().manual_seed(0))
    values, markers = x[..., 0], x[..., 1]
    assert torch.equal(markers.sum(dim=1), torch.full((20000,), 2.0))
    assert torch.equal(markers[:, :15].sum(dim=1), torch.ones(20000))  # one marker in each half
    assert torch.allclose(y[:, 0], (values * markers).sum(dim=1))
    baseline_mse = ((y - 1.0) ** 2).mean().item()
    assert baseline_mse == pytest.approx(1 / 6, abs=0.01)


@pytest.mark.parametrize("rule", ["parity", "majority"])
def test_bit_labels(rule):
    x, y = generate_sequences(rule, 4000, 15, 1, torch.Generator().manual_seed(0))
    bits = x[..., 0]
    assert set(bits.unique().tolist()) == {0.0, 1.0}
    ones = bits.sum(dim=1).long()
    expected = ones % 2 if rule == "parity" else (ones > 7).long()
    assert torch.equal(y, expected)
    assert 0.4 < y.float().mean() < 0.6


def test_sine_target_continues_the_signal():
    x, y = generate_sequences("sine", 2000, 40, 3, torch.Generator().manual_seed(0))
    assert x.shape == (2000, 40, 3) and y.shape == (2000, 3)
    assert y.abs().max() <= 1.0
    # One step moves a sine of at most 0.2 cycles per step by at most 2 * pi * 0.2; noise adds 0.1 std.
    step = (y - x[:, -1]).abs()
    assert step.mean() < 0.6 and step.max() < 2 * math.pi * 0.2 + 0.6
    assert SyntheticSequenceDataModule(problem="sine", num_features=3, **SMALL).num_outputs == 3


def test_pattern_motif_is_recoverable():
    generator = torch.Generator().manual_seed(0)
    x, y = generate_sequences("pattern", 2000, 50, 4, generator, num_patterns=4)
    # The motifs are the generator's first draws; a matched filter that knows them should score high.
    signs = torch.randint(0, 2, (4, MOTIF_LENGTH, 4), generator=torch.Generator().manual_seed(0))
    motifs = MOTIF_AMPLITUDE / math.sqrt(4) * (2.0 * signs - 1.0)
    windows = x.unfold(1, MOTIF_LENGTH, 1)  # (n, positions, features, length)
    scores = torch.einsum("npfl,klf->npk", windows, motifs) - 0.5 * (motifs**2).sum(dim=(1, 2))
    accuracy = (scores.amax(dim=1).argmax(dim=1) == y).float().mean()
    assert accuracy > 0.9
    assert sorted(y.unique().tolist()) == [0, 1, 2, 3]


def test_num_patterns_sets_the_class_count():
    datamodule = SyntheticSequenceDataModule(problem="pattern", num_patterns=6, num_features=2, **SMALL)
    assert datamodule.num_classes == datamodule.num_outputs == 6 and datamodule.input_shape == (20, 2)


@pytest.mark.parametrize("problem", PROBLEMS)
def test_generation_is_vectorised(problem):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generate_sequences(problem, 100, 100)  # warm up
        start = time.perf_counter()
        generate_sequences(problem, 2000, 100)
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)
    assert 2000 * 100 / elapsed > 1_000_000  # time steps per second on one core; measured 18M-160M


def test_ddp_ranks_get_disjoint_shards():
    datamodule = SyntheticSequenceDataModule(problem="parity", **SMALL)
    whole = torch.cat([x for x, _ in datamodule.train_dataloader()])
    shards = []
    for rank in range(2):
        datamodule.trainer = SimpleNamespace(global_rank=rank, world_size=2)  # what DDP would report
        shards.append(torch.cat([x for x, _ in datamodule.train_dataloader()]))
    assert len(shards[0]) == len(shards[1]) == 32
    assert torch.equal(shards[0], whole[0::2]) and torch.equal(shards[1], whole[1::2])


@pytest.mark.parametrize(
    "options, fragment",
    [
        (dict(problem="copying"), "unknown sequence problem"),
        (dict(problem="adding", num_features=3), "2 feature"),
        (dict(problem="parity", num_features=2), "1 feature"),
        (dict(problem="adding", seq_len=1), "seq_len"),
        (dict(problem="sine", n_val=0), "n_val"),
        (dict(problem="pattern", num_patterns=1), "num_patterns"),
        (dict(problem="sine", num_features=0), "num_features"),
    ],
)
def test_bad_settings_are_user_errors(options, fragment):
    settings = {**SMALL, **options}
    with pytest.raises(UserError, match=fragment) as caught:
        SyntheticSequenceDataModule(**settings)
    assert "\n" not in str(caught.value)
