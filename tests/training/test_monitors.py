"""The gradient-norm and learning-rate monitors' decisions, on stand-in trainers (tests/tasks/test_tasks.py
reads their values from a real fit)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping

from lit_dl.training.checkpoints import RunCheckpoint
from lit_dl.training.monitors import GradientNormMonitor, StepLearningRateMonitor, monitored_metrics


class Module(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = torch.nn.Linear(2, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
        self.first.weight.grad = torch.tensor([[3.0, 0.0]])
        self.second.weight.grad = torch.tensor([[4.0]])
        self.logged: list[dict] = []

    def log_dict(self, values, **options):
        self.logged.append({"values": {k: float(v) for k, v in values.items()}, **options})


@pytest.mark.parametrize(("step", "logs"), [(0, False), (2, False), (3, True), (4, False), (7, True)])
def test_the_gradient_norm_is_logged_at_the_steps_lightning_writes(step, logs):
    """Lightning writes step k's logs when k + 1 is a multiple of log_every_n_steps (4 here)."""
    module = Module()
    GradientNormMonitor().on_before_optimizer_step(SimpleNamespace(global_step=step, log_every_n_steps=4), module, None)
    assert bool(module.logged) is logs
    if logs:
        assert module.logged == [{"values": {"grad_norm/total": 5.0}, "on_step": True, "on_epoch": False}]


def test_the_norm_type_and_per_layer_norms():
    module = Module()
    GradientNormMonitor(norm_type=1.0, per_layer=True).on_before_optimizer_step(SimpleNamespace(global_step=0, log_every_n_steps=1), module, None)
    assert module.logged[0]["values"] == {"grad_norm/total": 7.0, "grad_norm/first.weight": 3.0, "grad_norm/second.weight": 4.0}
    defaults = GradientNormMonitor()
    assert (defaults.norm_type, defaults.per_layer) == (2.0, False)


def test_no_gradients_no_norm():
    module = Module()
    module.first.weight.grad = module.second.weight.grad = None
    GradientNormMonitor().on_before_optimizer_step(SimpleNamespace(global_step=0, log_every_n_steps=1), module, None)
    assert module.logged == []


def test_the_learning_rate_is_logged_once_per_optimizer_step(monkeypatch):
    """With gradient accumulation several batches share a step: Lightning's monitor would log its
    rate at each; and it only looks at the steps Lightning writes."""
    seen = []
    monkeypatch.setattr("lightning.pytorch.callbacks.LearningRateMonitor.on_train_batch_start",
                        lambda self, trainer, module, batch, index: seen.append(trainer.global_step))
    monitor = StepLearningRateMonitor()
    assert monitor.logging_interval == "step"
    module = SimpleNamespace(automatic_optimization=True)
    for step in (0, 0, 1, 1, 2, 3, 3, 4, 5):
        monitor.on_train_batch_start(SimpleNamespace(global_step=step, log_every_n_steps=2, optimizers=[None], should_stop=False),
                                     module, None, 0)
    assert seen == [1, 3, 5]
    monitor.on_train_batch_start(SimpleNamespace(global_step=6, log_every_n_steps=2, optimizers=[None], should_stop=True), module, None, 0)
    assert seen == [1, 3, 5, 6]  # the last step of a stopping fit
    manual = SimpleNamespace(automatic_optimization=False)
    monitor.on_train_batch_start(SimpleNamespace(global_step=8, log_every_n_steps=2, optimizers=[None], should_stop=False), manual, None, 0)
    assert seen[-1] == 8  # Lightning decides for manual optimization
    monitor.on_train_batch_start(SimpleNamespace(global_step=10, log_every_n_steps=2, optimizers=[None, None], should_stop=False), module, None, 0)
    assert seen[-1] == 10  # and for two optimizers (a GAN's): a batch may step either
    every_step = StepLearningRateMonitor()
    for step in (0, 1, 2):  # log_every_n_steps 0 counts as 1 (no division by zero)
        every_step.on_train_batch_start(SimpleNamespace(global_step=step, log_every_n_steps=0, optimizers=[None], should_stop=False), module, None, 0)
    assert seen[-3:] == [0, 1, 2]
    late = StepLearningRateMonitor()
    for step in ("1001", "1001", "1003"):  # step numbers as a long fit counts them: past CPython's cached small ints, new objects
        late.on_train_batch_start(SimpleNamespace(global_step=int(step), log_every_n_steps=2, optimizers=[None], should_stop=False), module, None, 0)
    assert seen[-3:] == [2, 1001, 1003]  # 1001 once


def test_the_monitored_metrics_name_who_follows_them():
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    checkpoint, other = RunCheckpoint(monitor="val/loss"), RunCheckpoint(monitor="val/acc")
    trainer = SimpleNamespace(callbacks=[checkpoint, other, RunCheckpoint(monitor=None), EarlyStopping(monitor="val/f1")],
                              checkpoint_callback=checkpoint)
    task = SimpleNamespace(scheduler_factory=ReduceLROnPlateau, monitor="val/loss")
    assert monitored_metrics(trainer, task) == [("--checkpoint.monitor", "val/loss"), ("ModelCheckpoint", "val/acc"),
                                                ("EarlyStopping", "val/f1"), ("ReduceLROnPlateau (--model.init_args.monitor)", "val/loss")]
    assert monitored_metrics(SimpleNamespace(callbacks=[], checkpoint_callback=None),
                             SimpleNamespace(scheduler_factory=torch.optim.lr_scheduler.StepLR)) == []
