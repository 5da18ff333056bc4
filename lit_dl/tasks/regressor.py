"""Regression of any net's outputs onto float targets."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError

from lit_dl.losses import loss_inputs
from lit_dl.tasks.base import Task


class Regressor(Task):
    """Trains a net whose output has the target's shape (a `(B,)` output fits a `(B, 1)` target).

    Logs `{train,val,test}/loss` and `{val,test}/mse`, `{val,test}/mae`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.errors = nn.ModuleDict(
            {
                f"{stage}_{name}": metric()
                for stage in ("val", "test")
                for name, metric in (("mse", MeanSquaredError), ("mae", MeanAbsoluteError))
            }
        )

    def metric_names(self) -> list[str]:
        return [*super().metric_names(), *(f"{stage}/{name}" for stage in ("val", "test") for name in ("mse", "mae"))]

    def default_loss(self) -> nn.Module:
        return nn.MSELoss()

    def shared_step(self, batch: Any, stage: str) -> Tensor:
        inputs, target = self._split(batch)
        prediction, target = loss_inputs(self.loss_fn, self(*inputs), target)
        loss = self.loss_fn(prediction, target)
        self._log_loss(stage, loss, len(target))
        if stage != "train":
            for name in ("mse", "mae"):
                metric = self.errors[f"{stage}_{name}"]
                metric.update(prediction.detach(), target)
                self._log_metric(f"{stage}/{name}", metric)
        return loss
