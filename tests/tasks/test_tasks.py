"""The generic tasks train any net: multi-class, binary and regression, with their metrics."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from lit_dl.training import GradientNormMonitor, LineProgressBar
from lit_dl.data import InMemoryDataModule
from lit_dl.errors import UserError
from lit_dl.nets import MLP, Perceptron
from lit_dl.tasks import Classifier, Regressor


class LinearData(InMemoryDataModule):
    """y = x @ w (+ threshold for the binary labels): learnable by a linear model."""

    def __init__(self, task: str, n: int = 256, features: int = 4) -> None:
        super().__init__(batch_size=32)
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(n, features, generator=generator)
        w = torch.randn(features, 1, generator=generator)
        target = (x @ w > 0).long().squeeze(1) if task == "binary" else x @ w
        self.input_shape, self.num_outputs = (features,), 1 if task == "regression" else 2
        self.splits = {split: (x, target) for split in ("train", "val", "test")}


def train(task, data, epochs=5, **trainer_kwargs):
    trainer = pl.Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, **trainer_kwargs,
    )
    trainer.fit(task, data)
    fit_metrics = set(trainer.callback_metrics)
    return fit_metrics, trainer.test(task, data, verbose=False)[0]


def test_binary_classifier_on_one_logit_of_two_class_data():
    data = LinearData("binary")  # reports num_outputs 2; the Perceptron gives one logit
    task = Classifier(Perceptron(data.input_shape, 2), num_outputs=2, optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    _, test = train(task, data)
    assert test["test/acc"] > 0.9


def test_cross_entropy_on_one_logit_is_a_user_error():
    data = LinearData("binary")
    task = Classifier(Perceptron(data.input_shape, 2), num_outputs=2, loss=nn.CrossEntropyLoss())
    with pytest.raises(UserError, match="BCEWithLogitsLoss"):
        train(task, data, epochs=1)


def test_multiclass_classifier_with_a_given_loss():
    data = LinearData("binary")
    task = Classifier(
        MLP(data.input_shape, 2, hidden_dims=[16]), num_outputs=2,
        loss=nn.CrossEntropyLoss(label_smoothing=0.1), optimizer=lambda p: torch.optim.Adam(p, lr=0.02),
    )
    fit_metrics, test = train(task, data)
    assert test["test/acc"] > 0.9
    assert {"train/loss", "train/acc", "val/loss", "val/acc"} <= fit_metrics


def test_regressor_logs_mse_and_mae():
    data = LinearData("regression")
    task = Regressor(MLP(data.input_shape, 1, hidden_dims=[]), num_outputs=1, optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    fit_metrics, test = train(task, data, epochs=10)
    assert test["test/mse"] < 0.05
    assert test["test/mae"] < 0.2
    assert {"val/mse", "val/mae", "val/loss"} <= fit_metrics


def test_gradient_norm_monitor_logs_total_and_per_layer():
    data = LinearData("binary")
    task = Classifier(MLP(data.input_shape, 2, hidden_dims=[8]), num_outputs=2)
    trainer = pl.Trainer(
        max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False, log_every_n_steps=1,
        callbacks=[GradientNormMonitor(per_layer=True)], enable_model_summary=False, limit_val_batches=0,
    )
    trainer.fit(task, data)
    logged = trainer.logged_metrics
    assert logged["grad_norm/total"] > 0
    assert any(name.startswith("grad_norm/net.") for name in logged)


def test_line_progress_bar_prints_one_line_per_epoch(capsys):
    data = LinearData("binary")
    task = Classifier(MLP(data.input_shape, 2, hidden_dims=[8]), num_outputs=2)
    trainer = pl.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, callbacks=[LineProgressBar()], enable_model_summary=False,
    )
    trainer.fit(task, data)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and "val/loss" in lines[0]
