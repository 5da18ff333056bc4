"""An exponential moving average (EMA) of the weights, evaluated and checkpointed in their place.

Lightning's `WeightAveraging` callback does the work: it keeps a `torch.optim.swa_utils.
AveragedModel` beside the task, swaps the average in for every validation, copies it into the
task when training ends (so the test after fit sees it), and saves it as the checkpoint's
`state_dict` with the raw weights under `current_model_state`, which a resumed fit restores.
`EMA` gives it torch's EMA update (`get_ema_multi_avg_fn`: one fused `lerp` over all tensors)
and a start step, and reads a checkpoint outside fit as the averaged weights it holds.

    trainer:
      callbacks:
        - class_path: lit_dl.training.EMA
          init_args: {decay: 0.999}
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import WeightAveraging
from lightning.pytorch.trainer.states import TrainerFn
from torch.optim.swa_utils import get_ema_multi_avg_fn

from lit_dl.errors import UserError
from lit_dl.internals import averaged_module


class EMA(WeightAveraging):
    """Validate, test and checkpoint `average = decay * average + (1 - decay) * weights`,
    updated after every `every_n_steps`-th optimizer step from step `start_step` on.

    The average covers the buffers too (batch-norm running statistics), so the averaged net
    needs no extra pass over the data. With decay d it remembers about 1 / (1 - d) steps:
    0.999 suits runs of several thousand steps, 0.99 short ones. Training metrics
    (`train/loss`, `train/acc`) are those of the raw weights; `val/*` and `test/*` of the average.

    Args:
        decay: the weight the old average keeps at each update, in (0, 1).
        start_step: the first optimizer step (0-based) that updates the average; the first update
            copies the weights, so an average started later forgets the noisy first steps.
        every_n_steps: update the average every this many optimizer steps.
        device: where the average lives ("cpu" saves accelerator memory); None: beside the weights.
    """

    def __init__(
        self, decay: float = 0.999, start_step: int = 0, every_n_steps: int = 1, device: str | None = None
    ) -> None:
        if not 0.0 < decay < 1.0:
            raise UserError(f"EMA: decay must be between 0 and 1 (such as 0.999), got {decay}")
        if start_step < 0 or every_n_steps < 1:
            raise UserError(
                f"EMA: start_step must be >= 0 and every_n_steps >= 1, got {start_step} and {every_n_steps}"
            )
        super().__init__(device=device, use_buffers=True, multi_avg_fn=get_ema_multi_avg_fn(decay))
        self.decay = decay
        self.start_step = start_step
        self.every_n_steps = every_n_steps

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # An average that never updates is the initial weights, which validation, the test and
        # the checkpoints would then use in place of the trained ones.
        total = trainer.estimated_stepping_batches
        if self.start_step >= total:
            raise UserError(
                f"EMA: start_step {self.start_step} is at or after the end of the run ({int(total)} optimizer steps), so "
                "the average would never update and validation, test and checkpoints would use the untrained weights; "
                f"use a start_step below {int(total)}"
            )
        super().on_fit_start(trainer, pl_module)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        if step_idx is None:  # epoch ends: the per-step updates already cover them
            return False
        return step_idx >= self.start_step and (step_idx - self.start_step) % self.every_n_steps == 0

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        # Outside fit (validate, test, predict, and the test after fit) the task has just loaded
        # the checkpoint's `state_dict`, which is the average: keep it. Lightning's callback would
        # put back the raw weights when an average from the fit is still around.
        if trainer.state.fn != TrainerFn.FITTING:
            return
        super().on_load_checkpoint(trainer, pl_module, checkpoint)

    @property
    def averaged_model(self) -> torch.nn.Module | None:
        """The averaged copy of the task during fit (None before fit starts)."""
        return averaged_module(self)
