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


class SignalAt(pl.Callback):
    """Sends this process real signals (by name, in order) after optimizer step `step`: what a
    user's Ctrl-C (SIGINT, twice for an abort), `kill` or SLURM would send."""

    def __init__(self, step: int = 2, signals: list[str] = ["SIGINT"]) -> None:  # noqa: B006 (jsonargparse needs a literal default)
        self.step, self.signals = step, list(signals)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        import os
        import signal

        if trainer.global_step == self.step and trainer.is_global_zero:
            for name in self.signals:
                os.kill(os.getpid(), getattr(signal, name))


class TermThenUsr1(SignalAt):
    """SIGTERM, then SIGUSR1, to this process after the second optimizer step: a preemption and
    SLURM's time-limit warning arriving within one batch."""

    def __init__(self) -> None:
        super().__init__(step=2, signals=["SIGTERM", "SIGUSR1"])


class SignalInValidation(pl.Callback):
    """Sends this process a real signal at the start of validation batch `batch` of the
    validation after epoch `epoch` (0-based; never the sanity check)."""

    def __init__(self, epoch: int = 0, batch: int = 1, signal_name: str = "SIGTERM") -> None:
        self.epoch, self.batch, self.signal_name = epoch, batch, signal_name

    def on_validation_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking and trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), getattr(signal, self.signal_name))


class SignalInTest(pl.Callback):
    """Sends this process a real signal at the start of the first batch of the test after fit:
    the training is complete, its record is not."""

    def __init__(self, signal_name: str = "SIGINT") -> None:
        self.signal_name = signal_name

    def on_test_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            os.kill(os.getpid(), getattr(signal, self.signal_name))
