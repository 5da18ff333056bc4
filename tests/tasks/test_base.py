"""What every task shares: a task built in Python, without the CLI linking the data's values."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR

from lit_dl.tasks import Classifier, Regressor


def test_a_task_without_num_outputs_has_one_output():
    """The CLI links num_outputs from the data; built by hand a task has one (one target, or one
    logit of a binary classifier)."""
    regressor = Regressor(nn.Linear(4, 1))
    assert regressor.num_outputs == 1 and regressor.target_mean.shape == (1,) and regressor.target_std.shape == (1,)
    assert Classifier(nn.Linear(4, 1)).num_outputs == 1


@pytest.mark.parametrize(("max_epochs", "t_max"), [(1, 1), (5, 5), (None, 1), (-1, 1)])
def test_cosine_annealing_without_t_max_lasts_the_runs_epochs(max_epochs, t_max):
    """One epoch at least: max_epochs None or -1 (no limit) leaves one."""
    task = Regressor(nn.Linear(4, 1), scheduler=CosineAnnealingLR)
    task.trainer = SimpleNamespace(max_epochs=max_epochs)
    assert task._scheduler_defaults() == {"T_max": t_max}


def test_the_training_loss_is_logged_only_at_steps_whose_logs_lightning_writes():
    """Every `log_every_n_steps` optimizer steps (the step's count after it is done) and at an
    epoch's last batch: `self.log` costs about a small net's whole step."""
    task = Regressor(nn.Linear(4, 1))
    logged = []
    task.log = lambda name, value, **_: logged.append((name, task.trainer.global_step))
    for step in range(8):
        progress = SimpleNamespace(is_last_batch=step == 5)
        task.trainer = SimpleNamespace(global_step=step, log_every_n_steps=4, fast_dev_run=False,
                                       fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))
        task._log_loss("train", torch.tensor(0.5), batch_size=8)
    assert logged == [("train/loss", 3), ("train/loss", 5), ("train/loss", 7)]


@pytest.mark.parametrize(("fn", "logged"), [("validate", [("epoch", 2.0), ("step", 40.0)]), ("fit", [])])
def test_a_validation_of_a_checkpoint_is_logged_at_its_epoch_and_step(fn, logged):
    """`lit-dl validate` logs at the checkpoint's position; a fit's validation logs at its own."""
    task = Regressor(nn.Linear(4, 1))
    task.trainer = SimpleNamespace(state=SimpleNamespace(fn=fn))
    task._checkpoint_position = (2, 40)
    seen = []
    task.log = lambda name, value, **_: seen.append((name, value))
    task.on_validation_epoch_end()
    assert seen == logged
    task.on_test_epoch_end()  # a test always does
    assert seen[-2:] == [("epoch", 2.0), ("step", 40.0)]


def test_a_batch_already_on_the_device_is_not_walked_and_any_other_is_moved():
    task = Regressor(nn.Linear(4, 1))
    batch = (torch.zeros(2, 4), torch.zeros(2, 1))
    assert task.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    moved = task.transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert [t.device.type for t in moved] == ["meta", "meta"]
    mixed = (torch.zeros(2, 4), {"weights": torch.zeros(2)})
    assert task.transfer_batch_to_device(mixed, torch.device("cpu"), 0) is not mixed  # not all tensors: Lightning's walk


def test_each_stage_logs_its_metric_once_an_epoch():
    task = Regressor(nn.Linear(4, 1))
    seen = []
    task.log = lambda name, value, **_: seen.append(name)
    for _ in range(2):
        task._log_metric("train/mae", object())
        task._log_metric("val/mae", object())
    assert seen == ["train/mae", "val/mae"]
    task.on_train_epoch_start()
    task._log_metric("train/mae", object())
    task._log_metric("val/mae", object())
    assert seen == ["train/mae", "val/mae", "train/mae"]
    task.on_validation_epoch_start()
    task.on_test_epoch_start()
    task._log_metric("val/mae", object())
    assert seen[-1] == "val/mae"
