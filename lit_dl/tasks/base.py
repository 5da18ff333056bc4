"""What every task shares: the net, the loss, the optimizer and the LR schedule.

A task never knows which net it holds: a batch is `(*inputs, target)` and the net gets `*inputs`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

# Schedulers whose period is counted in optimizer steps, not epochs.
STEP_SCHEDULERS = ("OneCycleLR", "CyclicLR")


class Task(pl.LightningModule):
    """Base of Classifier and Regressor.

    Args:
        net: any `torch.nn.Module`; its `input_shape` and `num_outputs` are linked from the data.
        num_outputs: the number of outputs the data asks for (linked from the DataModule).
        loss: the training criterion; None picks the task's natural one.
        optimizer: built on the task's parameters, e.g. `torch.optim.AdamW` with its init args.
        scheduler: built on the optimizer; OneCycleLR's `total_steps` and CosineAnnealingLR's
            `T_max` are filled from the trainer when not given.
        scheduler_interval: "step" or "epoch"; None picks "step" for OneCycleLR/CyclicLR.
        monitor: the metric that ReduceLROnPlateau and the best checkpoint follow.
        compile: wrap the net in `torch.compile` (GPU recipes).
    """

    def __init__(
        self,
        net: nn.Module,
        num_outputs: int = 1,
        loss: nn.Module | None = None,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["step", "epoch"] | None = None,
        monitor: str = "val/loss",
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "loss", "optimizer", "scheduler"])
        self.net = net
        self.num_outputs = num_outputs
        self.loss_fn = loss if loss is not None else self.default_loss()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.monitor = monitor
        self._forward = torch.compile(net) if compile else net

    def default_loss(self) -> nn.Module:
        raise NotImplementedError

    def forward(self, *inputs: Tensor) -> Tensor:
        return self._forward(*inputs)

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer, **self._scheduler_defaults())
        name = type(scheduler).__name__
        interval = self.scheduler_interval or ("step" if name in STEP_SCHEDULERS else "epoch")
        config = {"scheduler": scheduler, "interval": interval}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = self.monitor
        return {"optimizer": optimizer, "lr_scheduler": config}

    def _scheduler_defaults(self) -> dict[str, Any]:
        """The schedule lengths a user would otherwise have to compute from the trainer."""
        given, scheduler_class = _unwrap_partial(self.scheduler_factory)
        params = inspect.signature(scheduler_class).parameters
        defaults = {}
        if "total_steps" in params and given.get("total_steps") is None and given.get("epochs") is None:
            defaults["total_steps"] = int(self.trainer.estimated_stepping_batches)
        if "T_max" in params and "T_max" not in given:
            defaults["T_max"] = max(int(self.trainer.max_epochs or 1), 1)
        return defaults

    # -- steps --------------------------------------------------------------------------------
    def _split(self, batch: Any) -> tuple[tuple[Tensor, ...], Tensor]:
        *inputs, target = batch
        return tuple(inputs), target

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self.shared_step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.shared_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        inputs, _ = self._split(batch)
        return self(*inputs)

    def shared_step(self, batch: Any, stage: str) -> Tensor:
        raise NotImplementedError

    def _log_loss(self, stage: str, loss: Tensor, batch_size: int) -> None:
        training = stage == "train"
        # Per-step logging of a tensor costs no host sync: Lightning reads it every
        # `log_every_n_steps`. Epoch means are reduced across DDP ranks.
        self.log(
            f"{stage}/loss",
            loss,
            on_step=training,
            on_epoch=not training,
            prog_bar=True,
            batch_size=batch_size,
            sync_dist=not training,
        )


def _unwrap_partial(factory: Any) -> tuple[dict[str, Any], Any]:
    """The keywords already bound and the class behind a callable from the config.

    jsonargparse hands over `functools.partial(helper, instantiator, SchedulerClass, **kwargs)`;
    a plain class or function stands for itself."""
    if isinstance(factory, functools.partial):
        target = next((a for a in factory.args if inspect.isclass(a)), factory.func)
        return dict(factory.keywords), target
    return {}, factory
