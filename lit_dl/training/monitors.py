"""Gradient norms, the first thing to look at when training diverges or stalls."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import LearningRateMonitor
import torch
from torch.nn.utils import get_total_norm
from torch.optim import Optimizer


class StepLearningRateMonitor(LearningRateMonitor):
    """Lightning's LearningRateMonitor (`lr-<optimizer>` every logged step), once per optimizer
    step: with gradient accumulation Lightning's logs the same step's rate at each of its batches,
    which metrics.csv would then hold twice."""

    def __init__(self, log_momentum: bool = False, log_weight_decay: bool = False) -> None:
        super().__init__(logging_interval="step", log_momentum=log_momentum, log_weight_decay=log_weight_decay)
        self._step_seen: int | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self._step_seen:
            return
        self._step_seen = trainer.global_step
        # Lightning's own test of a step that logs, in its cheap form: with one optimizer stepped
        # once a batch, its steps are the batches that stepped (which Lightning counts in its loop).
        one_step_a_batch = pl_module.automatic_optimization and len(trainer.optimizers) == 1
        if one_step_a_batch and (trainer.global_step + 1) % max(trainer.log_every_n_steps, 1) and not trainer.should_stop:
            return
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)


class GradientNormMonitor(pl.Callback):
    """Logs `grad_norm/total` (and, with `per_layer`, `grad_norm/<parameter>`) before each
    optimizer step that the trainer logs (every `log_every_n_steps`), so the norms cost no host
    sync on the steps in between, and at those steps only the logged values are read: the norms
    stay tensors until Lightning writes them (Lightning's `grad_norm` reads every parameter's norm
    to build the total, a host sync per parameter tensor).

    Args:
        norm_type: the p of the p-norm (2.0 for the Euclidean norm).
        per_layer: also log the norm of every parameter tensor.
    """

    def __init__(self, norm_type: float = 2.0, per_layer: bool = False) -> None:
        self.norm_type = norm_type
        self.per_layer = per_layer

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Optimizer) -> None:
        # Lightning writes step k's logs when (k + 1) is a multiple of log_every_n_steps.
        if (trainer.global_step + 1) % trainer.log_every_n_steps != 0:
            return
        gradients = {name: p.grad for name, p in pl_module.named_parameters() if p.grad is not None}
        if not gradients:
            return
        logged = {"grad_norm/total": get_total_norm(list(gradients.values()), self.norm_type)}
        if self.per_layer:
            logged.update({f"grad_norm/{name}": torch.linalg.vector_norm(g, self.norm_type) for name, g in gradients.items()})
        pl_module.log_dict(logged, on_step=True, on_epoch=False)


def monitored_metrics(trainer: pl.Trainer, task: Any) -> list[tuple[str, str]]:
    """(who, metric) for every metric the fit follows: checkpoints, early stopping, the LR plateau."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from lit_dl.internals import unwrap_callable

    found = []
    for callback in trainer.callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.monitor:
            found.append(("--checkpoint.monitor" if callback is trainer.checkpoint_callback else "ModelCheckpoint", callback.monitor))
        elif isinstance(callback, EarlyStopping):
            found.append(("EarlyStopping", callback.monitor))
    scheduler = getattr(task, "scheduler_factory", None)
    if scheduler is not None:
        scheduler_class = unwrap_callable(scheduler)[1]
        if isinstance(scheduler_class, type) and issubclass(scheduler_class, ReduceLROnPlateau):
            found.append(("ReduceLROnPlateau (--model.init_args.monitor)", getattr(task, "monitor", None)))
    return found
