"""The flag `lit-dl lr-find` prints: the one-cycle peak rate, or the optimizer's lr."""

from __future__ import annotations

from lit_dl.training.lr_find import suggested_flag


def test_one_cycle_and_cyclic_schedules_take_the_rate_as_their_peak():
    for scheduler in ("torch.optim.lr_scheduler.OneCycleLR", "torch.optim.lr_scheduler.CyclicLR"):
        assert suggested_flag(scheduler, 0.0123456) == "--model.init_args.scheduler.init_args.max_lr 0.0123"


def test_other_schedules_and_none_take_it_as_the_optimizer_lr():
    for scheduler in (None, "torch.optim.lr_scheduler.CosineAnnealingLR"):
        assert suggested_flag(scheduler, 3e-4) == "--model.init_args.optimizer.init_args.lr 0.0003"
