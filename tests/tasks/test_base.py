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
