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


def test_the_loss_is_reduced_across_ranks_per_epoch_in_evaluation_and_per_step_unreduced_in_training():
    """Validation and test losses are epoch means over every DDP rank's batches (one all-reduce an
    epoch); the training loss is logged per step without an all-reduce, off the progress bar."""
    task = Regressor(nn.Linear(4, 1))
    logged = {}
    task.log = lambda name, value, **kwargs: logged.update({name: kwargs})
    task.trainer = None
    for stage in ("train", "val", "test"):
        task._log_loss(stage, torch.tensor(0.5), batch_size=8)
    assert logged["train/loss"] == dict(on_step=True, on_epoch=False, prog_bar=False, batch_size=8, sync_dist=False)
    for stage in ("val", "test"):
        assert logged[f"{stage}/loss"] == dict(on_step=False, on_epoch=True, prog_bar=True, batch_size=8, sync_dist=True)


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


@pytest.mark.parametrize("position", [(None, None), (2, None), (None, 40)])
def test_a_checkpoint_without_its_epoch_and_step_is_evaluated_at_the_trainers(position):
    """A checkpoint written by something else than a fit may lack either: both are needed to log at its position."""
    task = Regressor(nn.Linear(4, 1))
    task._checkpoint_position = position
    seen = []
    task.log = lambda name, value, **_: seen.append((name, value))
    task.on_test_epoch_end()
    assert seen == []


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


def stand_in_trainer(**fields):
    from lightning.pytorch.plugins.precision import Precision

    return SimpleNamespace(**{"max_epochs": 3, "estimated_stepping_batches": 30, "gradient_clip_val": None, "precision_plugin": Precision(),
                              "state": SimpleNamespace(fn="fit"), **fields})


@pytest.mark.parametrize(("scheduler", "interval", "monitored"), [
    (torch.optim.lr_scheduler.StepLR, "epoch", False), (CosineAnnealingLR, "epoch", False), (torch.optim.lr_scheduler.OneCycleLR, "step", True),
    (torch.optim.lr_scheduler.ReduceLROnPlateau, "epoch", True),
])
def test_each_schedule_steps_per_epoch_or_per_optimizer_step_and_the_plateau_follows_the_monitor(scheduler, interval, monitored):
    from functools import partial

    factory = {torch.optim.lr_scheduler.StepLR: partial(torch.optim.lr_scheduler.StepLR, step_size=2),
               torch.optim.lr_scheduler.OneCycleLR: partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1)}.get(scheduler, scheduler)
    task = Regressor(nn.Linear(4, 1), scheduler=factory, monitor="val/mae")
    task.trainer = stand_in_trainer()
    configured = task.configure_optimizers()
    assert configured["lr_scheduler"]["interval"] == interval and isinstance(configured["lr_scheduler"]["scheduler"], scheduler)
    assert ("monitor" in configured["lr_scheduler"]) is (scheduler is torch.optim.lr_scheduler.ReduceLROnPlateau)
    if scheduler is torch.optim.lr_scheduler.OneCycleLR:
        assert configured["lr_scheduler"]["scheduler"].total_steps == 30  # the trainer's optimizer steps
    if scheduler is torch.optim.lr_scheduler.ReduceLROnPlateau:
        assert configured["lr_scheduler"]["monitor"] == "val/mae"
    task.scheduler_interval = "step"
    assert task.configure_optimizers()["lr_scheduler"]["interval"] == "step"
    plain = Regressor(nn.Linear(4, 1))
    assert isinstance(plain.configure_optimizers(), torch.optim.AdamW)


def test_one_cycle_keeps_the_length_or_the_epochs_it_is_given():
    from functools import partial

    task = Regressor(nn.Linear(4, 1), scheduler=partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1, total_steps=7))
    task.trainer = stand_in_trainer()
    assert task._scheduler_defaults() == {}
    task = Regressor(nn.Linear(4, 1), scheduler=partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1, epochs=2, steps_per_epoch=4))
    task.trainer = stand_in_trainer()
    assert task._scheduler_defaults() == {}
    task = Regressor(nn.Linear(4, 1), scheduler=partial(CosineAnnealingLR, T_max=9))
    task.trainer = stand_in_trainer()
    assert task._scheduler_defaults() == {}


def test_the_optimizer_is_fused_or_foreach_unless_the_config_chose():
    from functools import partial

    task = Regressor(nn.Linear(4, 1))
    defaults = task.build_optimizer().defaults
    assert defaults["fused"] or defaults["foreach"]
    chosen = Regressor(nn.Linear(4, 1), optimizer=partial(torch.optim.AdamW, foreach=False))
    assert chosen.build_optimizer().defaults["foreach"] is False and not chosen.build_optimizer().defaults["fused"]
    plain = Regressor(nn.Linear(4, 1), optimizer=lambda parameters: torch.optim.SGD(parameters, lr=0.1))  # not a class: as it is
    assert plain.build_optimizer().defaults["foreach"] is None


def test_under_mixed_precision_with_clipping_the_optimizer_is_foreach_and_never_fused():
    from functools import partial

    from lightning.pytorch.plugins.precision import MixedPrecision

    from lit_dl.errors import UserError

    task = Regressor(nn.Linear(4, 1))
    task.trainer = stand_in_trainer(gradient_clip_val=1.0, precision_plugin=MixedPrecision("bf16-mixed", "cpu"))
    defaults = task.build_optimizer().defaults
    assert defaults["foreach"] is True and not defaults["fused"]
    fused = Regressor(nn.Linear(4, 1), optimizer=partial(torch.optim.AdamW, fused=True))
    fused.trainer = task.trainer
    with pytest.raises(UserError) as raised:
        fused.build_optimizer()
    assert str(raised.value) == ("AdamW(fused=True) cannot be clipped under mixed precision; remove `fused: true` from the optimizer, or "
                                 "gradient_clip_val from the trainer")
    task.trainer = stand_in_trainer(gradient_clip_val=0.0, precision_plugin=MixedPrecision("bf16-mixed", "cpu"))
    assert not task._clips_under_mixed_precision()


@pytest.mark.parametrize(("planned", "fn", "refused"), [(20, "fit", True), (30, "fit", False), (40, "fit", False), (20, "test", False)])
def test_resuming_a_one_cycle_schedule_planned_for_fewer_steps_is_refused(planned, fn, refused):
    from lit_dl.errors import UserError

    task = Regressor(nn.Linear(4, 1))
    task.trainer = stand_in_trainer(state=SimpleNamespace(fn=fn))
    checkpoint = {"epoch": 2, "global_step": 20, "lr_schedulers": [{"total_steps": planned}, {"other": 1}]}
    if refused:
        with pytest.raises(UserError) as raised:
            task.on_load_checkpoint(checkpoint)
        assert str(raised.value) == ("this run's one-cycle LR schedule was planned for 20 steps but the trainer now asks for 30; resume with "
                                     "the max_epochs/max_steps the run started with, or start a new run")
    else:
        task.on_load_checkpoint(checkpoint)
    assert task._checkpoint_position == (2, 20)


def test_the_l2_penalty_is_added_to_the_training_loss_only():
    task = Regressor(nn.Linear(1, 1, bias=False), l2=0.5)
    with torch.no_grad():
        task.net.weight.fill_(2.0)
    task.log = lambda *args, **kwargs: None
    batch = (torch.tensor([[1.0]]), torch.tensor([[2.0]]))  # a perfect fit: data loss 0
    assert task.training_step(batch, 0).item() == 2.0  # 0.5 * 2**2
    assert Regressor(nn.Linear(1, 1), l2=0.0).l2 == 0.0
    with pytest.raises(Exception, match="l2 must be >= 0"):
        Regressor(nn.Linear(1, 1), l2=-0.1)


def test_a_fast_dev_run_logs_every_training_step():
    task = Regressor(nn.Linear(4, 1))
    progress = SimpleNamespace(is_last_batch=False)
    task._trainer = SimpleNamespace(global_step=1, log_every_n_steps=50, fast_dev_run=True,
                                    fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))
    assert task._step_is_logged()
    task._trainer.fast_dev_run = False
    assert not task._step_is_logged()
    task._trainer = None
    assert task._step_is_logged()  # outside a trainer


def test_an_optimizer_whose_fused_form_fails_here_gets_its_foreach_form():
    class PickyAdam(torch.optim.Adam):
        def __init__(self, params, lr=1e-3, fused=None, foreach=None):
            if fused:
                raise RuntimeError("fused needs a GPU here")
            super().__init__(params, lr=lr, foreach=foreach)

    task = Regressor(nn.Linear(4, 1), optimizer=PickyAdam)
    assert task.build_optimizer().defaults["foreach"] is True
