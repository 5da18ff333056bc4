"""Supervised becomes the task the data asks for; a task that contradicts its data is a one-line
error before training; a Regressor reports errors and predictions in the targets' own units."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch import nn

from lit_dl.data import ArrayDataModule
from lit_dl.errors import UserError
from lit_dl.losses import FocalLoss, WeightedMSEMAELoss
from lit_dl.nets import MLP
from lit_dl.tasks import Classifier, Regressor, Supervised


def net(outputs: int = 3) -> MLP:
    return MLP([4], outputs, hidden_dims=[8])


@pytest.mark.parametrize("task, kind", [("classification", Classifier), ("regression", Regressor)])
def test_supervised_becomes_the_datas_task(task, kind):
    model = Supervised(net(), num_outputs=3, task=task)
    assert type(model) is kind and model.hparams.task == task


def test_supervised_follows_a_task_read_from_a_file():
    """The task comes from the data or the config file: a string equal to "classification" that is
    not the literal's object."""
    for task, kind in (("".join(["classi", "fication"]), Classifier), ("".join(["regre", "ssion"]), Regressor)):
        model = Supervised(net(), num_outputs=3, task=task)
        assert type(model) is kind
    assert not Supervised(net(), num_outputs=3, task="classification").tta_flip
    assert Supervised(net(), num_outputs=3, task="classification", tta_flip=True).tta_flip


def test_supervised_without_a_task_is_an_error():
    with pytest.raises(UserError, match="follows the data's task, but got task None"):
        Supervised(net(), num_outputs=3)


def test_supervised_regression_refuses_the_image_flip():
    with pytest.raises(UserError, match="tta_flip"):
        Supervised(net(), num_outputs=1, task="regression", tta_flip=True)


MISMATCHES = {
    "classifier on continuous targets": (
        lambda: Classifier(net(), num_outputs=1, task="regression"),
        "the data holds continuous targets (regression) but the model is lit_dl.tasks.Classifier",
    ),
    "regressor on class labels": (
        lambda: Regressor(net(), num_outputs=3, task="classification"),
        "the data holds class labels (classification) but the model is lit_dl.tasks.Regressor",
    ),
    "MSE loss in a classifier": (
        lambda: Classifier(net(), num_outputs=3, loss=nn.MSELoss()), "MSELoss is a regression loss",
    ),
    "mixed regression loss in a classifier": (
        lambda: Classifier(net(), num_outputs=3, loss=WeightedMSEMAELoss()), "WeightedMSEMAELoss is a regression loss",
    ),
    "cross-entropy in a regressor": (
        lambda: Regressor(net(1), num_outputs=1, loss=nn.CrossEntropyLoss()), "CrossEntropyLoss is a classification loss",
    ),
    "class weights of the wrong length": (
        lambda: Classifier(net(), num_outputs=3, loss=nn.CrossEntropyLoss(weight=torch.ones(2))),
        "the loss's weight has 2 entries but the data has 3 classes",
    ),
    "focal alpha of the wrong length": (
        lambda: Classifier(net(), num_outputs=3, loss=FocalLoss(alpha=[0.2, 0.3, 0.1, 0.4])),
        "the loss's alpha has 4 entries but the data has 3 classes",
    ),
    "unknown task": (lambda: Classifier(net(), num_outputs=3, task="ranking"), "unknown task 'ranking'"),
}


@pytest.mark.parametrize("case", MISMATCHES)
def test_task_that_contradicts_the_data_is_a_one_line_error(case):
    build, message = MISMATCHES[case]
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        build()
    assert "\n" not in str(caught.value)


def test_matching_class_weights_and_binary_pos_weight_are_accepted():
    Classifier(net(), num_outputs=3, loss=nn.CrossEntropyLoss(weight=torch.ones(3)), task="classification")
    Classifier(net(1), num_outputs=2, loss=nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0])))


def test_mismatch_found_at_setup_without_the_cli(write_npz):
    rng = np.random.default_rng(0)
    path = write_npz(x_train=rng.normal(size=(40, 4)), y_train=rng.normal(size=40),
                     x_test=rng.normal(size=(8, 4)), y_test=rng.normal(size=8))
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    with pytest.raises(UserError, match="continuous targets"):
        trainer.fit(Classifier(net(1), num_outputs=1), ArrayDataModule(path))
    assert trainer.global_step == 0


def regression_file(write_npz, n_train: int = 240, n_test: int = 60) -> str:
    """y = 300 + 80 * (x @ w): targets far from zero mean and unit variance."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=4)
    x_train, x_test = rng.normal(size=(n_train, 4)), rng.normal(size=(n_test, 4))
    return write_npz(x_train=x_train, y_train=300 + 80 * x_train @ w, x_test=x_test, y_test=300 + 80 * x_test @ w)


def test_regressor_errors_and_predictions_in_the_targets_units(write_npz, tmp_path):
    datamodule = ArrayDataModule(regression_file(write_npz), batch_size=32)
    model = Regressor(MLP([4], 1, hidden_dims=[]), num_outputs=1, optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    trainer = pl.Trainer(max_epochs=15, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)
    trainer.fit(model, datamodule)
    test = trainer.test(model, datamodule, verbose=False)[0]
    torch.testing.assert_close(model.target_mean, datamodule.target_mean)
    predicted = torch.cat(trainer.predict(model, datamodule))
    x_test, y_scaled = datamodule.tensors("test")  # the inputs as the loaders serve them (standardised)
    y_test = y_scaled * datamodule.target_std + datamodule.target_mean
    assert predicted.abs().mean() > 100  # in the targets' units, not standardised
    mse = ((predicted - y_test) ** 2).mean().item()
    assert test["test/mse"] == pytest.approx(mse, rel=1e-4)
    assert test["test/mae"] == pytest.approx((predicted - y_test).abs().mean().item(), rel=1e-4)
    assert test["test/mse"] < 0.01 * y_test.var().item()
    assert test["test/loss"] == pytest.approx(mse / datamodule.target_std.item() ** 2, rel=1e-3)  # trained scaled

    # The statistics travel in the checkpoint: a loaded model predicts in the same units.
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    loaded = Regressor.load_from_checkpoint(path, net=MLP([4], 1, hidden_dims=[]))
    torch.testing.assert_close(loaded.target_std, datamodule.target_std)
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict_step((x_test, y_scaled), 0), predicted)


def test_checkpoint_from_before_target_scaling_loads_unscaled(tmp_path):
    model = Regressor(MLP([4], 1, hidden_dims=[]), num_outputs=1)
    state = {key: value for key, value in model.state_dict().items() if not key.startswith("target_")}
    checkpoint = {"state_dict": state, "hyper_parameters": dict(model.hparams), "pytorch-lightning_version": pl.__version__}
    torch.save(checkpoint, tmp_path / "old.ckpt")
    loaded = Regressor.load_from_checkpoint(tmp_path / "old.ckpt", net=MLP([4], 1, hidden_dims=[]))
    assert loaded.target_mean.item() == 0.0 and loaded.target_std.item() == 1.0
