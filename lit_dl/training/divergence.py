"""Stopping a diverged run before it overwrites a good checkpoint with NaN weights."""

from __future__ import annotations

import math
import os
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch import Tensor
from torch.nn.utils import get_total_norm

from lit_dl.errors import TrainingDiverged
from lit_dl.internals import is_last_batch


class StopOnNonFiniteLoss(Callback):
    """Stops training at a NaN or infinite loss with a line naming the step and the last good
    checkpoint, and never writes a checkpoint whose weights are not finite.

    The first bad step is tracked on the device; the host looks at it every
    `check_every_n_steps` steps (default: `trainer.log_every_n_steps`, when Lightning syncs for
    logging anyway) and before every save, so a GPU step does not wait for the check.
    """

    _NONE = 2**62  # "no bad step yet", so that the first bad step is a minimum over ranks

    def __init__(self, check_every_n_steps: int | None = None) -> None:
        self.check_every_n_steps = check_every_n_steps
        self._first_bad_step: Tensor | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, Tensor):
            return
        step = trainer.global_step  # optimizer steps done, this batch's included
        if loss.device.type == "cpu" and trainer.world_size == 1:
            # Reading a host tensor waits for no device, and with one process no other rank
            # must join the decision: check exactly, every step, for the cost of one read.
            if not math.isfinite(loss.item() if loss.numel() == 1 else loss.detach().sum().item()):
                raise TrainingDiverged(self._message(trainer, step))
            return
        if self._first_bad_step is None or self._first_bad_step.device != loss.device:
            self._first_bad_step = torch.full((), self._NONE, dtype=torch.long, device=loss.device)
        bad = ~torch.isfinite(loss.detach()).all()
        self._first_bad_step = torch.where(bad, torch.clamp(self._first_bad_step, max=step), self._first_bad_step)
        every = self.check_every_n_steps or trainer.log_every_n_steps or 1
        if step % every == 0 or is_last_batch(trainer):
            # Every rank checks at the same steps, so the reduction is a collective they all join.
            first_bad = int(trainer.strategy.reduce(self._first_bad_step.clone(), reduce_op="min"))
            if first_bad < self._NONE:
                raise TrainingDiverged(self._message(trainer, first_bad))

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        if _all_finite(checkpoint.get("state_dict") or {}):
            return
        # Every rank holds the same (all-reduced) weights, so every rank stops here together.
        first_bad = int(self._first_bad_step) if self._first_bad_step is not None else self._NONE
        raise TrainingDiverged(self._message(trainer, first_bad if first_bad < self._NONE else trainer.global_step, weights=True))

    def _message(self, trainer: pl.Trainer, step: int, weights: bool = False) -> str:
        last_good = _last_saved_checkpoint(trainer)
        what = "the weights became" if weights else "the training loss became"
        kept = f"the last good checkpoint is kept: {last_good}" if last_good else "no checkpoint was saved before it"
        return (
            f"{what} NaN or infinite at step {step} (epoch {trainer.current_epoch + 1}); training stopped and {kept}; "
            "lower the learning rate, clip gradients (--trainer.gradient_clip_val 1.0) or check the data for NaNs"
        )


def _all_finite(weights: dict[str, Any]) -> bool:
    tensors = [t for t in weights.values() if isinstance(t, Tensor) and t.is_floating_point()]
    # The largest magnitude is finite only when every value is (a NaN or an infinity carries
    # through): one fused kernel per device and dtype, and one host sync for the whole model.
    return not tensors or bool(torch.isfinite(get_total_norm(tensors, math.inf)))


def _last_saved_checkpoint(trainer: pl.Trainer) -> str | None:
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            for path in (callback.last_model_path, callback.best_model_path):
                if path and os.path.isfile(path):
                    return path
    return None
