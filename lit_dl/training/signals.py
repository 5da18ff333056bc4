"""Stopping on a signal: save `last.ckpt` at the next batch boundary, say how to resume."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only


class StopOnSignal(Callback):
    """SIGTERM or SIGINT: finish the current batch, save `last.ckpt`, say how to resume, exit.

    Lightning already turns SIGTERM into a stop at the next batch boundary (and, under DDP,
    tells every rank). This callback routes the first Ctrl-C the same way instead of raising
    KeyboardInterrupt mid-step (a second Ctrl-C aborts at once), then saves when the stop
    arrives. Under SLURM, SIGUSR1 stays Lightning's: it saves `hpc_ckpt_<n>.ckpt` and requeues.
    """

    def __init__(self) -> None:
        self._previous_sigint: Any = None
        self._signal: int | None = None
        self.stopped_by: int | None = None  # the signal that stopped the fit, for the exit code

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous_sigint = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self._signal = signal.SIGINT
        signal.signal(signal.SIGINT, self._previous_sigint)  # a second Ctrl-C aborts
        rank_zero_only(print)("\nstopping after this batch to save a checkpoint (Ctrl-C again to abort)", file=sys.stderr, flush=True)
        sigterm_handler = signal.getsignal(signal.SIGTERM)  # Lightning's, while the trainer runs
        if callable(sigterm_handler):
            sigterm_handler(signal.SIGTERM, frame)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        self.stopped_by = self._signal or signal.SIGTERM
        if trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking:
            return  # e.g. testing the best weights after fit: nothing of the training to save
        path = last_checkpoint_path(trainer)
        trainer.save_checkpoint(path)
        if trainer.is_global_zero:
            name = signal.Signals(self.stopped_by).name
            print(
                f"lit-dl: stopped by {name} at step {trainer.global_step}; "
                f"saved {path}; resume with: {resume_command(path)}",
                file=sys.stderr,
                flush=True,
            )

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if threading.current_thread() is not threading.main_thread() or self._previous_sigint is None:
            return
        signal.signal(signal.SIGINT, self._previous_sigint)
        self._previous_sigint = None


def last_checkpoint_path(trainer: pl.Trainer) -> str:
    callback = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.dirpath), None)
    directory = callback.dirpath if callback is not None else os.path.join(trainer.default_root_dir, "checkpoints")
    return os.path.join(directory, ModelCheckpoint.CHECKPOINT_NAME_LAST + ModelCheckpoint.FILE_EXTENSION)


def resume_command(checkpoint: _PATH) -> str:
    """The command that continues the run a checkpoint belongs to, in that run's directory."""
    config = Path(checkpoint).parent.parent / "config.yaml"
    return shlex.join(["lit-dl", "fit", "--config", str(config), "--ckpt_path", str(checkpoint)])
