"""PeriodicCheckpoint's rule for when not to save: right before a validation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lit_dl.training.periodic import validation_follows


def trainer(val_check_batch: float, every_n_epoch: int | None = 1, total_batch_idx: int = 0) -> SimpleNamespace:
    epoch_loop = SimpleNamespace(batch_progress=SimpleNamespace(is_last_batch=False), total_batch_idx=total_batch_idx)
    return SimpleNamespace(val_check_batch=val_check_batch, enable_validation=True, check_val_every_n_epoch=every_n_epoch,
                           fit_loop=SimpleNamespace(epoch_loop=epoch_loop))


@pytest.mark.parametrize(("batch_idx", "follows"), [(0, False), (2, False), (3, True), (4, False), (7, True)])
def test_validation_follows_every_val_check_batch_batches_of_the_epoch(batch_idx, follows):
    """val_check_interval=4: Lightning validates after the 4th, 8th, ... batch (batch_idx 3, 7)."""
    assert validation_follows(trainer(4), batch_idx) is follows


def test_without_epoch_validation_the_count_runs_over_epochs():
    """check_val_every_n_epoch=None: val_check_interval counts batches since the fit began."""
    assert validation_follows(trainer(4, every_n_epoch=None, total_batch_idx=11), batch_idx=0)
    assert not validation_follows(trainer(4, every_n_epoch=None, total_batch_idx=12), batch_idx=3)


def test_validation_follows_the_epochs_last_batch_and_never_a_fractional_interval_or_disabled_validation():
    last = trainer(4)
    last.fit_loop.epoch_loop.batch_progress.is_last_batch = True
    assert validation_follows(last, batch_idx=0)
    assert not validation_follows(trainer(0.5), batch_idx=3)  # not a whole number of batches: only at the epoch's end
    disabled = trainer(4)
    disabled.enable_validation = False
    assert not validation_follows(disabled, batch_idx=3)


def test_last_ckpt_is_saved_every_n_steps_except_before_a_validation_a_sanity_check_or_in_a_fast_dev_run(monkeypatch):
    from lit_dl.errors import UserError
    from lit_dl.training import periodic

    saved = []
    monkeypatch.setattr(periodic, "save_last", lambda trainer: saved.append(trainer.global_step))
    callback = periodic.PeriodicCheckpoint(every_n_train_steps=5)
    for step in range(1, 16):
        stand_in = trainer(1000)
        stand_in.global_step, stand_in.sanity_checking, stand_in.fast_dev_run = step, False, False
        callback.on_train_batch_end(stand_in, None, None, None, batch_idx=step - 1)
    assert saved == [5, 10, 15]
    for flag in ("sanity_checking", "fast_dev_run"):
        stand_in = trainer(1000)
        stand_in.global_step, stand_in.sanity_checking, stand_in.fast_dev_run = 5, False, False
        setattr(stand_in, flag, True)
        callback.on_train_batch_end(stand_in, None, None, None, batch_idx=0)
    before_validation = trainer(5)
    before_validation.global_step, before_validation.sanity_checking, before_validation.fast_dev_run = 20, False, False
    callback.on_train_batch_end(before_validation, None, None, None, batch_idx=4)
    assert saved == [5, 10, 15]
    assert periodic.PeriodicCheckpoint().every_n_train_steps == 1000 and periodic.PeriodicCheckpoint(1).every_n_train_steps == 1
    with pytest.raises(UserError, match="every_n_train_steps must be at least 1, got 0"):
        periodic.PeriodicCheckpoint(0)
