"""Progress bars: a bar on a terminal, plain lines for logs that are not one (SLURM output files,
CI, pipes), and neither waits for the device on a training step that does not log.

Lightning turns every value logged with `prog_bar=True` into a Python number after every
training batch, a host sync per step on a GPU; so lit-dl's tasks log `train/loss` without it and
these bars read it from the logged values where Lightning writes its logs anyway.
"""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar

from lit_dl.internals import is_last_batch

TRAINING_LOSS = "train/loss"


class ShowsTrainingLoss(ProgressBar):
    """A progress bar's metrics plus the training loss, read only where Lightning writes its logs
    (every `log_every_n_steps` optimizer steps, at an epoch's end) or outside training."""

    _training_loss: float | None = None

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        if self.reads_now(trainer):
            loss = trainer.callback_metrics.get(TRAINING_LOSS)
            self._training_loss = float(loss) if loss is not None else self._training_loss
        if self._training_loss is not None:
            metrics[TRAINING_LOSS] = self._training_loss
        return metrics

    def reads_now(self, trainer: pl.Trainer) -> bool:
        """Whether reading a logged value adds no host sync: outside a training step, or at one
        that logs (the step's optimizer step done)."""
        return not trainer.training or trainer.global_step % max(trainer.log_every_n_steps, 1) == 0 or is_last_batch(trainer)


class RichBar(ShowsTrainingLoss, RichProgressBar):
    """Lightning's rich progress bar, showing the training loss (see `ShowsTrainingLoss`)."""


class TQDMBar(ShowsTrainingLoss, TQDMProgressBar):
    """Lightning's tqdm progress bar, showing the training loss (see `ShowsTrainingLoss`)."""


class LineProgressBar(ShowsTrainingLoss):
    """One line per epoch: the epoch, its wall time and the progress-bar metrics.

    A bar redrawn in place turns into thousands of lines in a log file; this prints only what a
    reader of that file wants.
    """

    # The time the epoch being saved had taken, kept in the checkpoint for a mid-epoch resume.
    ELAPSED_KEY = "lit_dl_epoch_elapsed_s"

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._epoch_start = time.perf_counter()
        self._elapsed_before_resume = 0.0

    def reads_now(self, trainer: pl.Trainer) -> bool:
        return True  # only at an epoch's end

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A run resumed mid-epoch continues that epoch without `on_train_epoch_start`: its time
        # counts from the resume plus what the epoch had taken before the checkpoint.
        self._epoch_start = time.perf_counter() - self._elapsed_before_resume

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[self.ELAPSED_KEY] = time.perf_counter() - self._epoch_start

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._elapsed_before_resume = float(checkpoint.get(self.ELAPSED_KEY, 0.0))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook, so its metrics are in.
        self._print_epoch(trainer, pl_module)

    def _print_epoch(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._enabled or trainer.global_rank != 0:
            return
        metrics = self.get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        shown = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(metrics.items()))
        elapsed = time.perf_counter() - self._epoch_start
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        print(f"epoch {trainer.current_epoch + 1}/{total} ({elapsed:.1f}s)  {shown}", flush=True)
