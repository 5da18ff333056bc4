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


def test_train_on_val_trains_on_the_validation_samples_too(write_npz):
    arrays = classification_arrays()
    arrays["x_train"][:, 0] = np.arange(100)  # a sample id
    datamodule = ArrayDataModule(write_npz(**arrays), train_on_val=True, standardize="none")
    train_ids = sorted(datamodule.splits["train"][0][:, 0].long().tolist())
    assert train_ids == list(range(100)) and len(datamodule.splits["val"][0]) == 10
    assert set(datamodule.splits["val"][0][:, 0].long().tolist()) <= set(train_ids)
    assert "trained on val too" in datamodule.description
    # The scaling is fitted on every sample that trains.
    scaled = ArrayDataModule(write_npz(**arrays), train_on_val=True)
    torch.testing.assert_close(scaled.input_mean[0], torch.tensor(49.5))


def test_stored_validation_split_is_used(write_npz):
    arrays = classification_arrays()
    arrays.update(x_val=np.ones((7, 64)), y_val=np.zeros(7, dtype=np.int64))
    datamodule = ArrayDataModule(write_npz(**arrays))
    assert len(datamodule.splits["train"][0]) == 100
    assert torch.equal(datamodule.splits["val"][0], torch.ones(7, 64))


@pytest.mark.parametrize("shape", [[64, 1], [1, 8, 8], [4, 16]])
def test_input_shape_reshapes_each_sample(write_npz, shape):
    arrays = classification_arrays()
    datamodule = ArrayDataModule(write_npz(**arrays), input_shape=shape, val_fraction=0.5, standardize="none")
    assert datamodule.input_shape == tuple(shape)
    x, _ = next(iter(datamodule.test_dataloader()))
    assert x.shape == (30, *shape)
    assert torch.equal(x.reshape(30, -1), torch.from_numpy(arrays["x_test"]).float())


def test_stored_sample_shape_is_kept(write_npz):
    arrays = classification_arrays()
    arrays = {key: (value.reshape(len(value), 1, 8, 8) if key.startswith("x_") else value) for key, value in arrays.items()}
    assert ArrayDataModule(write_npz(**arrays)).input_shape == (1, 8, 8)


def served(datamodule: ArrayDataModule, split: str) -> torch.Tensor:
    """The inputs the loaders serve for `split` (the splits keep the raw ones)."""
    return datamodule.tensors(split)[0]


@pytest.mark.parametrize(
    "shape, channel_axis",
    [(None, 1), ([16, 4], 2), ([4, 4, 4], 1)],  # features; a sequence's last axis; an image's channels
)
def test_channel_mode_uses_training_statistics_per_channel(write_npz, shape, channel_axis):
    arrays = classification_arrays()
    datamodule = ArrayDataModule(write_npz(**arrays), input_shape=shape, standardize="channel")
    x_train = served(datamodule, "train")
    other_axes = [axis for axis in range(x_train.ndim) if axis != channel_axis]
    assert torch.allclose(x_train.mean(dim=other_axes), torch.zeros(x_train.shape[channel_axis]), atol=1e-5)
    assert torch.allclose(x_train.std(dim=other_axes), torch.ones(x_train.shape[channel_axis]), atol=1e-4)
    raw_test = datamodule.splits["test"][0]
    assert torch.equal(raw_test.reshape(30, -1), torch.from_numpy(arrays["x_test"]).float())  # stored raw
    assert torch.allclose(served(datamodule, "test"), (raw_test - datamodule.input_mean) / datamodule.input_std)
    assert not torch.allclose(served(datamodule, "test").mean(dim=other_axes), torch.zeros(1), atol=1e-6)


def test_each_mode_computes_its_own_scale(write_npz):
    # Two channels of 2x2 pixels; pixel (0, 0) of channel 1 is 10x louder than the rest.
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, (400, 2, 2, 2))
    x[:, 1] = 3.0 + 2.0 * x[:, 1]
    x[:, 1, 0, 0] *= 10
    path = write_npz(x_train=x, y_train=np.arange(400) % 2, x_val=x[:50], y_val=np.arange(50) % 2, x_test=x[:20], y_test=np.arange(20) % 2)
    x_train = torch.from_numpy(x).float()

    def scale(mode):
        datamodule = ArrayDataModule(path, standardize=mode, std_floor=0.0)
        return datamodule.input_mean, datamodule.input_std

    mean, std = scale("feature")  # every value on its own: the statistics of each pixel
    assert mean.shape == std.shape == (2, 2, 2)
    torch.testing.assert_close(std, x_train.std(dim=0), rtol=1e-4, atol=1e-5)
    mean, std = scale("channel")  # each channel over its samples and pixels
    assert mean.shape == (2, 1, 1)
    torch.testing.assert_close(std.flatten(), x_train.transpose(0, 1).reshape(2, -1).std(dim=1), rtol=1e-4, atol=1e-5)
    mean, std = scale("global")  # one scale for everything
    assert mean.shape == (1, 1, 1)
    torch.testing.assert_close(std.flatten(), x_train.std().reshape(1), rtol=1e-4, atol=1e-5)
    none = ArrayDataModule(path, standardize="none")
    assert none.input_mean is None and torch.equal(served(none, "train"), x_train)


@pytest.mark.parametrize(
    "shape, mode", [(None, "feature"), ([64, 1], "channel"), ([8, 8], "channel"), ([1, 8, 8], "channel"), ([4, 4, 4], "channel")]
)
def test_the_default_mode_follows_the_shape(write_npz, shape, mode):
    path = write_npz(**classification_arrays())
    datamodule = ArrayDataModule(path, input_shape=shape)
    assert datamodule.choices["standardize"] == mode and f"standardize {mode}" in datamodule.description
    assert ArrayDataModule(path, input_shape=shape, standardize=True).scaler.mode == mode  # true: the default
    assert ArrayDataModule(path, input_shape=shape, standardize=False).scaler.mode == "none"


def test_the_std_floor_keeps_a_nearly_constant_feature_in_range(write_npz):
    # A "border pixel": 0 in all but 2 of 1,000 training images; a stroke there at test time.
    arrays = classification_arrays(n_train=1000, features=4)
    arrays["x_train"][:, 3] = 0.0
    arrays["x_train"][:2, 3] = 255.0
    arrays["x_test"][:, 3] = 255.0
    path = write_npz(**arrays, x_val=arrays["x_test"], y_val=arrays["y_test"])
    unfloored = served(ArrayDataModule(path, std_floor=0.0), "test")[:, 3]
    floored = ArrayDataModule(path)  # std_floor 0.2: no training value beyond 5 scales from the mean
    assert unfloored.max() > 20
    assert served(floored, "train")[:, 3].abs().max() <= 5 + 1e-4 and served(floored, "test")[:, 3].max() <= 5 + 1e-4
    # An ordinary feature is left alone: its values lie within 5 standard deviations.
    torch.testing.assert_close(served(floored, "train")[:, 0].std(), torch.tensor(1.0), rtol=1e-4, atol=1e-4)


def test_constant_feature_is_centred_not_divided_by_zero(write_npz):
    arrays = classification_arrays()
    arrays["x_train"][:, 3] = 7.0
    x_train = served(ArrayDataModule(write_npz(**arrays)), "train")
    assert torch.isfinite(x_train).all() and torch.equal(x_train[:, 3], torch.zeros(90))


def test_a_robust_fit_ignores_a_few_huge_values(write_npz):
    arrays = classification_arrays(n_train=1000, features=2)
    arrays["x_train"][:5, 0] = 1e6  # five wild values in one column
    path = write_npz(**arrays)
    plain = ArrayDataModule(path, val_fraction=0.5, std_floor=0.0)
    robust = ArrayDataModule(path, val_fraction=0.5, std_floor=0.0, clip_quantile=0.01)
    assert plain.input_std[0] > 1e4  # the bulk of the column is squashed towards zero
    assert 2.0 < robust.input_std[0] < 4.0 and 3.5 < robust.input_mean[0] < 6.5  # the bulk's own spread (3) and centre (5)
    bulk = served(robust, "train")[:, 0]
    assert 0.8 < bulk[bulk.abs() < 10].std() < 1.2
    # Columns without outliers come out the same either way.
    torch.testing.assert_close(robust.input_std[1], plain.input_std[1], rtol=0.05, atol=0.0)


def test_the_scaler_travels_in_the_state_dict(write_npz):
    arrays = classification_arrays()
    trained = ArrayDataModule(write_npz(**arrays), input_shape=[1, 8, 8])
    arrays["x_train"] = arrays["x_train"] * 10 + 100  # the file changed since
    reloaded = ArrayDataModule(write_npz(**arrays), input_shape=[1, 8, 8])
    assert not torch.allclose(reloaded.input_mean, trained.input_mean)
    reloaded.load_state_dict(trained.state_dict())
    assert reloaded.scaler.mode == "channel"
    assert torch.equal(served(reloaded, "test"), served(trained, "test"))  # the raw test inputs, scaled as in training


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


@pytest.mark.parametrize(
    "y_train, y_test, classes",
    [
        (np.arange(100) % 3 + 1, np.arange(30) % 3 + 1, [1, 2, 3]),  # labels 1..3
        (np.where(np.arange(100) % 2, 1, -1), np.where(np.arange(30) % 2, 1, -1), [-1, 1]),
        (np.arange(100) % 3 * 5, np.arange(30) % 3 * 5, [0, 5, 10]),
        (np.array([0, 1, 3] * 33 + [0]), np.array([0, 1, 3] * 10), [0, 1, 3]),  # a gap: no phantom class 2
    ],
)
def test_labels_other_than_0_to_k_are_remapped_and_named(write_npz, y_train, y_test, classes):
    arrays = with_changes(y_train=y_train, y_test=y_test)
    datamodule = ArrayDataModule(write_npz(**arrays))
    assert datamodule.num_classes == datamodule.num_outputs == len(classes)
    assert datamodule.classes == classes and datamodule.class_names == [str(c) for c in classes]
    assert datamodule.choices["classes"] == classes
    assert f"labels {', '.join(map(str, classes))} trained as classes 0..{len(classes) - 1}" in datamodule.description
    y_served = datamodule.tensors("test")[1]
    assert torch.equal(y_served, torch.tensor([classes.index(label) for label in y_test]))


def test_classes_can_fix_the_order_and_plain_labels_are_not_renamed(write_npz):
    arrays = with_changes(y_train=np.arange(100) % 3 + 1, y_test=np.arange(30) % 3 + 1)
    datamodule = ArrayDataModule(write_npz(**arrays), classes=[3, 1, 2])
    assert torch.equal(datamodule.tensors("test")[1][:3], torch.tensor([1, 2, 0]))  # labels 1, 2, 3
    plain = ArrayDataModule(write_npz(**classification_arrays()))
    assert plain.classes == [0, 1, 2] and "classes" not in plain.choices and "labels" not in plain.description


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
    "label beyond train classes": (with_changes(y_test=np.full(30, 5)), {}, "y_test .* has label\\(s\\) 5 that y_train lacks"),
    "one label only": (with_changes(y_train=np.full(100, 4)), {}, "only the label 4"),
    "classes lacking a label": (with_changes(y_train=np.arange(100) % 3 + 1), {"classes": [1, 2]}, "label\\(s\\) 3 that classes \\[1, 2\\] lacks"),
    "classes never trained": (classification_arrays(), {"classes": [0, 1, 2, 7]}, "classes lists 7, which y_train"),
    "classes listed twice": (classification_arrays(), {"classes": [0, 1, 1, 2]}, "lists a label twice"),
    "unknown standardize": (classification_arrays(), {"standardize": "pixel"}, "standardize must be auto"),
    "std_floor of 1": (classification_arrays(), {"std_floor": 1.0}, "std_floor"),
    "clip_quantile of a half": (classification_arrays(), {"clip_quantile": 0.5}, "clip_quantile"),
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
