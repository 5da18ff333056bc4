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
