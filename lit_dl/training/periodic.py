"""Mid-epoch saves of `last.ckpt`, so a long epoch is not lost to a kill."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from lit_dl.errors import UserError
from lit_dl.internals import is_last_batch
from lit_dl.training.checkpoints import save_last


class PeriodicCheckpoint(Callback):
    """Overwrites the run's `last.ckpt` every `every_n_train_steps` optimizer steps.

    ModelCheckpoint judges the best checkpoint after each validation and writes `last.ckpt`
    then; asking it to save every N steps as well is not allowed (the two triggers exclude each
    other), so mid-epoch saves come from here, into the same file. Resuming one continues
    mid-epoch exactly: the loader's position and the RNG states are in it.
    """

    def __init__(self, every_n_train_steps: int = 1000) -> None:
        if every_n_train_steps < 1:
            raise UserError(f"every_n_train_steps must be at least 1, got {every_n_train_steps}")
        self.every_n_train_steps = every_n_train_steps

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step % self.every_n_train_steps or trainer.sanity_checking or trainer.fast_dev_run:
            return
        if validation_follows(trainer, batch_idx):
            return  # ModelCheckpoint saves after it; Lightning resumes a save made before it as if validated
        save_last(trainer)


def validation_follows(trainer: pl.Trainer, batch_idx: int) -> bool:
    """Whether Lightning validates right after this training batch (at the epoch's end or at a
    `val_check_interval`). A checkpoint saved between such a batch and its validation, or inside
    the validation, resumes as if that validation had run (Lightning 2.6 restarts it "on last"
    and skips it): the validation would never be logged."""
    if is_last_batch(trainer):
        return True
    every = trainer.val_check_batch
    if not isinstance(every, int):
        return False
    count = batch_idx if trainer.check_val_every_n_epoch is not None else trainer.fit_loop.epoch_loop.total_batch_idx
    # `enable_validation` (a few us: it asks the data connector and the module) only where the
    # count says a validation is due: this runs after every training batch.
    return (count + 1) % every == 0 and bool(trainer.enable_validation)
