"""Gradient norms, the first thing to look at when training diverges or stalls."""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.utilities import grad_norm
from torch.optim import Optimizer


class GradientNormMonitor(pl.Callback):
    """Logs `grad_norm/total` (and, with `per_layer`, `grad_norm/<parameter>`) before each
    optimizer step that the trainer logs (every `log_every_n_steps`), so the norms cost no host
    sync on the steps in between.

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
        norms = grad_norm(pl_module, norm_type=self.norm_type)
        if not norms:
            return
        prefix = f"grad_{float(self.norm_type)}_norm"
        logged = {"grad_norm/total": norms.pop(f"{prefix}_total")}
        if self.per_layer:
            logged.update({f"grad_norm/{name.removeprefix(prefix + '/')}": value for name, value in norms.items()})
        pl_module.log_dict(logged, on_step=True, on_epoch=False)
