"""ArrayDataModule: the user's .npz, its inferred task, reshaping, standardisation and bad files."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lit_dl.data import ArrayDataModule
from lit_dl.errors import UserError


def classification_arrays(n_train=100, n_test=30, features=64, classes=3, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return dict(
        x_train=rng.normal(5.0, 3.0, (n_train, features)),
        y_train=np.arange(n_train) % classes,
        x_test=rng.normal(5.0, 3.0, (n_test, features)),
        y_test=np.arange(n_test) % classes,
    )


def test_classification_inferred_from_integer_labels(write_npz):
    datamodule = ArrayDataModule(write_npz(**classification_arrays()), batch_size=16)
    assert datamodule.task == "classification"
    assert datamodule.num_classes == datamodule.num_outputs == 3
    assert datamodule.input_shape == (64,)
    sizes = {split: len(datamodule.splits[split][0]) for split in ("train", "val", "test")}
    assert sizes == {"train": 90, "val": 10, "test": 30}
    x, y = next(iter(datamodule.train_dataloader()))
    assert x.shape == (16, 64) and x.dtype == torch.float32
    assert y.shape == (16,) and y.dtype == torch.int64


def test_validation_split_is_seeded_and_disjoint(write_npz):
    arrays = classification_arrays()
    arrays["x_train"][:, 0] = np.arange(100)  # a sample id
    path = write_npz(**arrays)
    first, second = ArrayDataModule(path), ArrayDataModule(path)
    other = ArrayDataModule(path, seed=1, val_fraction=0.25)
    ids = {split: first.splits[split][0][:, 0].long() for split in ("train", "val")}
    assert sorted(torch.cat([ids["train"], ids["val"]]).tolist()) == list(range(100))
    assert torch.equal(first.splits["val"][0], second.splits["val"][0])
    assert len(other.splits["val"][0]) == 25 and len(other.splits["train"][0]) == 75
    assert not torch.equal(other.splits["val"][0][:10], first.splits["val"][0])


def test_stored_validation_split_is_used(write_npz):
    arrays = classification_arrays()
    arrays.update(x_val=np.ones((7, 64)), y_val=np.zeros(7, dtype=np.int64))
    datamodule = ArrayDataModule(write_npz(**arrays))
    assert len(datamodule.splits["train"][0]) == 100
    assert torch.equal(datamodule.splits["val"][0], torch.ones(7, 64))


@pytest.mark.parametrize("shape", [[64, 1], [1, 8, 8], [4, 16]])
def test_input_shape_reshapes_each_sample(write_npz, shape):
    arrays = classification_arrays()
    datamodule = ArrayDataModule(write_npz(**arrays), input_shape=shape, val_fraction=0.5)
    assert datamodule.input_shape == tuple(shape)
    x, _ = next(iter(datamodule.test_dataloader()))
    assert x.shape == (30, *shape)
    assert torch.equal(x.reshape(30, -1), torch.from_numpy(arrays["x_test"]).float())


def test_stored_sample_shape_is_kept(write_npz):
    arrays = classification_arrays()
    arrays = {key: (value.reshape(len(value), 1, 8, 8) if key.startswith("x_") else value) for key, value in arrays.items()}
    assert ArrayDataModule(write_npz(**arrays)).input_shape == (1, 8, 8)


@pytest.mark.parametrize(
    "shape, channel_axis",
    [(None, 1), ([16, 4], 2), ([4, 4, 4], 1)],  # features; a sequence's last axis; an image's channels
)
def test_standardize_uses_training_statistics(write_npz, shape, channel_axis):
    arrays = classification_arrays()
    datamodule = ArrayDataModule(write_npz(**arrays), input_shape=shape, standardize=True)
    x_train = datamodule.splits["train"][0]
    other_axes = [axis for axis in range(x_train.ndim) if axis != channel_axis]
    assert torch.allclose(x_train.mean(dim=other_axes), torch.zeros(x_train.shape[channel_axis]), atol=1e-5)
    assert torch.allclose(x_train.std(dim=other_axes), torch.ones(x_train.shape[channel_axis]), atol=1e-5)
    raw = ArrayDataModule(write_npz(**arrays), input_shape=shape)
    expected_test = (raw.splits["test"][0] - datamodule.input_mean) / datamodule.input_std
    assert torch.allclose(datamodule.splits["test"][0], expected_test)
    assert not torch.allclose(datamodule.splits["test"][0].mean(dim=other_axes), torch.zeros(1), atol=1e-6)


def test_constant_feature_is_centred_not_divided_by_zero(write_npz):
    arrays = classification_arrays()
    arrays["x_train"][:, 3] = 7.0
    x_train = ArrayDataModule(write_npz(**arrays), standardize=True).splits["train"][0]
    assert torch.isfinite(x_train).all() and torch.equal(x_train[:, 3], torch.zeros(90))


@pytest.mark.parametrize("targets, outputs", [(1, 1), (3, 3)])
def test_regression_inferred_from_float_targets(write_npz, targets, outputs):
    arrays = classification_arrays()
    rng = np.random.default_rng(1)
    shape = (lambda n: (n,)) if targets == 1 else (lambda n: (n, targets))
    arrays.update(y_train=rng.normal(size=shape(100)), y_test=rng.normal(size=shape(30)))
    datamodule = ArrayDataModule(write_npz(**arrays), batch_size=8)
    assert datamodule.task == "regression" and datamodule.num_classes is None
    assert datamodule.num_outputs == outputs
    _, y = next(iter(datamodule.train_dataloader()))
    assert y.shape == (8, outputs) and y.dtype == torch.float32


def test_task_can_be_overridden(write_npz):
    arrays = classification_arrays()
    as_regression = ArrayDataModule(write_npz(**arrays), task="regression")
    assert as_regression.task == "regression" and as_regression.num_outputs == 1
    assert as_regression.splits["train"][1].dtype == torch.float32
    arrays.update(y_train=arrays["y_train"].astype(np.float32), y_test=arrays["y_test"].astype(np.float32))
    as_classification = ArrayDataModule(write_npz(**arrays), task="classification")
    assert as_classification.num_classes == 3 and as_classification.splits["train"][1].dtype == torch.int64


def test_ddp_ranks_get_interleaved_shards(write_npz):
    datamodule = ArrayDataModule(write_npz(**classification_arrays()), batch_size=16)
    whole = torch.cat([x for x, _ in datamodule.train_dataloader()])
    shards = []
    for rank in range(2):
        datamodule.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        shards.append(torch.cat([x for x, _ in datamodule.train_dataloader()]))
    assert torch.equal(shards[0], whole[0::2]) and torch.equal(shards[1], whole[1::2])


def with_changes(**changes) -> dict[str, np.ndarray]:
    arrays = classification_arrays()
    arrays.update(changes)
    return {key: value for key, value in arrays.items() if value is not None}


def nan_inputs() -> np.ndarray:
    x = classification_arrays()["x_train"].copy()
    x[5, 5] = np.nan
    return x


BAD_FILES = {
    "missing key": (with_changes(y_test=None), {}, "lacks y_test"),
    "val without y_val": (with_changes(x_val=np.zeros((5, 64))), {}, "lacks y_val"),
    "lengths differ": (with_changes(y_train=np.zeros(99, dtype=np.int64)), {}, "x_train has 100 samples but y_train has 99"),
    "text arrays": (with_changes(y_train=np.array(["cat"] * 100)), {}, "must be numeric"),
    "NaN input": (with_changes(x_train=nan_inputs()), {}, "NaN"),
    "label beyond train classes": (with_changes(y_test=np.full(30, 5)), {}, "outside the classes 0..2"),
    "negative label": (with_changes(y_train=np.arange(100) % 3 - 1), {}, "negative label"),
    "fractional labels": (with_changes(y_train=np.full(100, 0.5)), {"task": "classification"}, "fractional"),
    "shape mismatch": (classification_arrays(), {"input_shape": [10, 10]}, "does not fit the 64 values"),
    "sample shapes differ": (with_changes(x_test=np.zeros((30, 63))), {}, "differ in sample shape"),
    "val fraction": (classification_arrays(), {"val_fraction": 1.0}, "val_fraction"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_are_one_line_user_errors(write_npz, case):
    arrays, options, fragment = BAD_FILES[case]
    with pytest.raises(UserError, match=fragment) as caught:
        ArrayDataModule(write_npz(**arrays), **options)
    assert "\n" not in str(caught.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        ArrayDataModule(str(tmp_path / "absent.npz"))
    (tmp_path / "notes.npz").write_text("not an archive")
    with pytest.raises(UserError, match="cannot read"):
        ArrayDataModule(str(tmp_path / "notes.npz"))
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(UserError, match="single array"):
        ArrayDataModule(str(tmp_path / "single.npy"))
    np.savez(tmp_path / "objects.npz", **{**classification_arrays(), "x_train": np.array([{"a": 1}] * 100, dtype=object)})
    with pytest.raises(UserError, match="non-numeric"):
        ArrayDataModule(str(tmp_path / "objects.npz"))
