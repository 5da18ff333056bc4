"""Regression of any net's outputs onto float targets."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError

from lit_dl.errors import UserError
from lit_dl.internals import attached_trainer
from lit_dl.losses import loss_inputs
from lit_dl.tasks.base import Task
from lit_dl.tasks.data_checks import TaskKind, check_regression_loss, check_task, data_task_of


class Regressor(Task):
    """Trains a net whose output has the target's shape (a `(B,)` output fits a `(B, 1)` target).

    Logs `{train,val,test}/loss` and `{val,test}/mse`, `{val,test}/mae`. When the DataModule
    trains on standardised targets (it then reports `target_mean` and `target_std`, as
    ArrayDataModule does by default), the loss is on that scale while `mse`, `mae` and the
    predictions are in the targets' own units; the statistics are buffers, saved in checkpoints.

    Args:
        task: the data's task, linked from the DataModule; classification (class labels) is an error.
        *args, **kwargs: those of `Task` (net, loss, optimizer, scheduler, ...).
    """

    def __init__(self, *args: Any, task: TaskKind | None = None, **kwargs: Any) -> None:
        check_task("regression", task)
        super().__init__(*args, **kwargs)
        check_regression_loss(self.loss_fn)
        self.register_buffer("target_mean", torch.zeros(self.num_outputs))
        self.register_buffer("target_std", torch.ones(self.num_outputs))
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

    def setup(self, stage: str) -> None:
        check_task("regression", data_task_of(attached_trainer(self)))
        datamodule = getattr(attached_trainer(self), "datamodule", None)
        if hasattr(datamodule, "target_mean"):  # a DataModule that says how it scaled its targets
            mean, std = datamodule.target_mean, datamodule.target_std
            self.set_target_scale(*(torch.zeros(1), torch.ones(1)) if mean is None else (mean, std))

    def set_target_scale(self, mean: Tensor, std: Tensor) -> None:
        """The targets' mean and standard deviation per output: predictions are mapped back with them."""
        if mean.numel() not in (1, self.target_mean.numel()):
            raise UserError(
                f"the data scales {mean.numel()} target outputs but the model predicts {self.target_mean.numel()}; "
                "check num_outputs"
            )
        self.target_mean.copy_(mean.reshape(-1).expand_as(self.target_mean))
        self.target_std.copy_(std.reshape(-1).expand_as(self.target_std))

    def to_target_units(self, values: Tensor) -> Tensor:
        """Outputs or targets on the training scale, in the targets' own units."""
        return values * self.target_std + self.target_mean

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        # Checkpoints from before target scaling: their targets were unscaled.
        state = checkpoint.get("state_dict")
        if state is not None:
            state.setdefault("target_mean", torch.zeros_like(self.target_mean))
            state.setdefault("target_std", torch.ones_like(self.target_std))

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        inputs, _ = self._split(batch)
        return self.to_target_units(self(*inputs))

    def shared_step(self, batch: Any, stage: str) -> Tensor:
        inputs, target = self._split(batch)
        prediction, target = loss_inputs(self.loss_fn, self(*inputs), target)
        loss = self.loss_fn(prediction, target)
        self._log_loss(stage, loss, len(target))
        if stage != "train":
            prediction, target = self.to_target_units(prediction.detach()), self.to_target_units(target)
            for name in ("mse", "mae"):
                metric = self.errors[f"{stage}_{name}"]
                metric.update(prediction, target)
                self._log_metric(f"{stage}/{name}", metric)
        return loss
