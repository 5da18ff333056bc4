"""The task a DataModule infers from its targets, one-hot labels, and regression targets
standardised with the training split's statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lit_dl.data import ArrayDataModule, SyntheticSequenceDataModule
from lit_dl.data.arrays import infer_task
from lit_dl.errors import UserError


def arrays_with(y_train: np.ndarray, y_test: np.ndarray, features: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return dict(x_train=rng.normal(size=(len(y_train), features)), y_train=y_train,
                x_test=rng.normal(size=(len(y_test), features)), y_test=y_test)


@pytest.mark.parametrize(
    "labels, task",
    [
        (np.array([0, 1, 2, 1]), "classification"),  # integers
        (np.array([0.0, 1.0, 2.0, 1.0]), "classification"),  # whole-number floats that are the classes 0..K-1
        (np.array([[0.0], [1.0], [1.0]]), "classification"),  # the same as a column
        (np.array([25.0, 151.0, 75.0, 346.0]), "regression"),  # whole numbers, but scores (like diabetes)
        (np.array([1.0, 2.0, 3.0]), "regression"),  # class 0 absent: not class indices
        (np.array([0.0, 0.5, 1.0]), "regression"),  # fractional
        (np.array([0.0, 0.0, 0.0]), "regression"),  # one value
        (np.array([[0.0, 1.0], [2.0, 0.0]]), "regression"),  # several outputs
    ],
)
def test_task_inferred_from_training_targets(labels, task):
    assert infer_task(labels) == task


def test_whole_number_float_labels_train_a_classifier(write_npz):
    y = (np.arange(40) % 3).astype(np.float32)
    datamodule = ArrayDataModule(write_npz(**arrays_with(y, y[:12])))
    assert datamodule.task == "classification" and datamodule.num_classes == datamodule.num_outputs == 3
    assert datamodule.splits["train"][1].dtype == torch.int64


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_one_hot_labels_are_a_one_line_error(write_npz, dtype):
    one_hot = np.eye(3, dtype=dtype)[np.arange(30) % 3]
    with pytest.raises(UserError, match=r"one-hot encoded \(shape \[30, 3\].*y.argmax\(axis=1\)") as caught:
        ArrayDataModule(write_npz(**arrays_with(one_hot, one_hot[:9])))
    assert "\n" not in str(caught.value)


def test_explicit_regression_on_zero_one_columns_is_allowed(write_npz):
    one_hot = np.eye(3, dtype=np.float32)[np.arange(30) % 3]
    datamodule = ArrayDataModule(write_npz(**arrays_with(one_hot, one_hot[:9])), task="regression")
    assert datamodule.task == "regression" and datamodule.num_outputs == 3


def test_regression_targets_standardised_with_training_statistics(write_npz):
    rng = np.random.default_rng(1)
    y_train, y_test = rng.normal(200.0, 50.0, size=(60, 2)), rng.normal(200.0, 50.0, size=(20, 2))
    datamodule = ArrayDataModule(write_npz(**arrays_with(y_train, y_test)), val_fraction=0.25)
    train = datamodule.splits["train"][1]
    torch.testing.assert_close(train.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(train.std(0), torch.ones(2), atol=1e-5, rtol=0)
    # Every split is mapped with the training split's statistics and maps back exactly.
    test = datamodule.splits["test"][1]
    restored = test * datamodule.target_std + datamodule.target_mean
    torch.testing.assert_close(restored, torch.from_numpy(y_test).float(), rtol=1e-5, atol=1e-3)
    assert not torch.allclose(datamodule.target_mean, torch.from_numpy(y_train).float().mean(0))  # val held out


def test_standardize_targets_false_keeps_the_users_units(write_npz):
    y = np.linspace(10.0, 20.0, 40)
    datamodule = ArrayDataModule(write_npz(**arrays_with(y, y[:10])), standardize_targets=False)
    assert datamodule.target_mean is None and datamodule.target_std is None
    torch.testing.assert_close(datamodule.splits["test"][1].reshape(-1), torch.from_numpy(y[:10]).float())


def test_classification_labels_are_never_scaled(write_npz):
    y = np.arange(40) % 4
    datamodule = ArrayDataModule(write_npz(**arrays_with(y, y[:8])))
    assert datamodule.target_mean is None and torch.equal(datamodule.splits["test"][1], torch.from_numpy(y[:8]))


def test_constant_target_is_centred_not_divided_by_zero(write_npz):
    y = np.full(40, 3.5)
    datamodule = ArrayDataModule(write_npz(**arrays_with(y, y[:8])))
    assert torch.equal(datamodule.splits["train"][1], torch.zeros(36, 1)) and datamodule.target_std.item() == 1.0


def test_sequence_regression_targets_standardised_too():
    datamodule = SyntheticSequenceDataModule(problem="adding", seq_len=10, n_train=400, n_val=50, n_test=50)
    assert abs(datamodule.splits["train"][1].mean().item()) < 1e-5
    assert datamodule.target_mean.item() == pytest.approx(1.0, abs=0.1)  # the sum of two U(0, 1)
    raw = SyntheticSequenceDataModule(problem="adding", seq_len=10, n_train=400, n_val=50, n_test=50, standardize_targets=False)
    assert raw.target_mean is None
    assert datamodule.task == "regression" and SyntheticSequenceDataModule(problem="parity", seq_len=4).target_mean is None
