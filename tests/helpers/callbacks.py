"""Callbacks that tests put into a real fit through `--trainer.callbacks+=CLASS_PATH`."""

from __future__ import annotations

import os
import signal

import lightning.pytorch as pl

from lit_dl.errors import UserError


class FailAfterFirstEpoch(pl.Callback):
    """Stands for a mistake that shows only once training runs (a bad sample in epoch two)."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == 0:
            raise UserError("sample 17 of the training data is broken; fix the data file")


class StopAfterFirstEpoch(pl.Callback):
    """Ends a fit after its first epoch, as a time limit would: a run with epochs left to resume."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == 0:
            trainer.should_stop = True


class TermThenUsr1(pl.Callback):
    """SIGTERM, then SIGUSR1, to this process after the second optimizer step: a preemption and
    SLURM's time-limit warning arriving within one batch."""

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGUSR1)
