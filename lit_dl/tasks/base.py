"""What every task shares: the net, the loss, the optimizer and the LR schedule.

A task never knows which net it holds: a batch is `(*inputs, target)` and the net gets `*inputs`.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lit_dl.errors import UserError
from lit_dl.internals import attached_trainer, is_last_batch, unwrap_callable

# Schedulers whose period is counted in optimizer steps, not epochs.
STEP_SCHEDULERS = ("OneCycleLR", "CyclicLR")
# Values that are never a parameter, a buffer or a submodule (see `Task.__setattr__`).
_PLAIN_VALUES = frozenset({str, int, float, bool, type(None)})


class Task(pl.LightningModule):
    """Base of Classifier and Regressor.

    Args:
        net: any `torch.nn.Module`; its `input_shape` and `num_outputs` are linked from the data.
        num_outputs: the number of outputs the data asks for (linked from the DataModule).
        loss: the training criterion; None picks the task's natural one.
        optimizer: built on the task's parameters, e.g. `torch.optim.AdamW` with its init args;
            torch's fused (else foreach) implementation unless the config sets `fused` or
            `foreach` (see `build_optimizer`).
        scheduler: built on the optimizer; OneCycleLR's `total_steps` and CosineAnnealingLR's
            `T_max` are filled from the trainer when not given.
        scheduler_interval: "step" or "epoch"; None picks "step" for OneCycleLR/CyclicLR.
        monitor: the metric that ReduceLROnPlateau and the best checkpoint follow.
        compile: wrap the net in `torch.compile` (GPU recipes).
        channels_last: keep the net's weights and every 4-D input batch in the channels-last
            memory layout. None (the default) turns it on for nets with convolutions (4-D
            weights): GPU tensor cores prefer that layout, and so do the CPU's convolution and
            pooling kernels (a training step of SimpleCNN, ResNet18 or MobileNet on one CPU
            thread takes 10-25% less time). False keeps torch's default layout.
        l2: an explicit L2 penalty: `l2` times the sum of the squares of every trainable
            parameter is added to the training loss (the logged `train/loss` stays the data
            loss). Unlike the optimizer's `weight_decay`, it reaches the weights through the
            gradient, so Adam rescales it per weight; for plain SGD it equals weight_decay 2 * l2.
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
        channels_last: bool | None = None,
        l2: float = 0.0,
    ) -> None:
        super().__init__()
        if l2 < 0:
            raise UserError(f"l2 must be >= 0 (the weight of the sum of squared weights in the loss), got {l2}")
        self.save_hyperparameters(ignore=["net", "loss", "optimizer", "scheduler"])
        self.net = net
        self.num_outputs = num_outputs
        self.loss_fn = loss if loss is not None else self.default_loss()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.monitor = monitor
        self.l2 = l2
        if channels_last is None:
            channels_last = any(p.dim() == 4 and p.is_floating_point() for p in net.parameters())
        self.channels_last = channels_last
        if channels_last:
            net.to(memory_format=torch.channels_last)  # in place; moving to a device keeps the layout
        if compile:
            # Compiles the net's forward in place: the state_dict keeps the plain `net.*` keys,
            # so a compiled run's checkpoint loads into an uncompiled model and back.
            net.compile()
        self._metrics_logged: set[str] = set()  # metric objects handed to `self.log` this epoch

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning records the hook it is in as an attribute of the module, set before and
        # after every hook it calls: about 50 times a training step. nn.Module.__setattr__ first
        # checks the value against parameters, buffers and submodules (0.9 us; 0.1 us plainly).
        # A plain value for a name the object already holds as a plain attribute ends as the
        # same plain attribute there: torch keeps such a name out of its parameters, buffers and
        # submodules (registering one under it is refused), so none of its checks applies.
        if type(value) in _PLAIN_VALUES and name in self.__dict__:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def default_loss(self) -> nn.Module:
        raise NotImplementedError

    def metric_names(self) -> list[str]:
        """Every metric this task logs, so that a monitored name can be checked before fit."""
        return [f"{stage}/loss" for stage in ("train", "val", "test")]

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.net(*inputs)

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        optimizer = self.build_optimizer()
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer, **self._scheduler_defaults())
        name = type(scheduler).__name__
        interval = self.scheduler_interval or ("step" if name in STEP_SCHEDULERS else "epoch")
        config = {"scheduler": scheduler, "interval": interval}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = self.monitor
        return {"optimizer": optimizer, "lr_scheduler": config}

    def build_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer from the config, on this task's parameters.

        When the config leaves both `fused` and `foreach` unset (torch's "let the library pick"),
        the task asks for torch's fused implementation, or failing that the multi-tensor
        (`foreach`) one: the same algorithm and hyperparameters, with the per-parameter Python
        loop of torch's CPU default replaced by one kernel (AdamW on a small MLP: 45 us a step
        instead of 250). Set either flag in the config to choose yourself.

        Under mixed precision with gradient clipping it asks for `foreach` only: Lightning unscales
        the gradients before clipping them and refuses an optimizer that unscales inside its own
        step, which the fused ones do.
        """
        given, optimizer_class = unwrap_callable(self.optimizer_factory)
        clipped = self._clips_under_mixed_precision()
        if clipped and given.get("fused"):
            raise UserError(
                f"{optimizer_class.__name__}(fused=True) cannot be clipped under mixed precision; "
                "remove `fused: true` from the optimizer, or gradient_clip_val from the trainer"
            )
        unset = given.get("fused") is None and given.get("foreach") is None and not given.get("differentiable")
        if unset and inspect.isclass(optimizer_class):
            accepted = inspect.signature(optimizer_class).parameters
            for flag in ("foreach",) if clipped else ("fused", "foreach"):
                if flag in accepted:
                    try:
                        return self.optimizer_factory(self.parameters(), **{flag: True})
                    except (RuntimeError, ValueError, TypeError):
                        continue  # a device, dtype or option this implementation does not support
        return self.optimizer_factory(self.parameters())

    def _clips_under_mixed_precision(self) -> bool:
        from lightning.pytorch.plugins.precision import MixedPrecision

        if attached_trainer(self) is None:
            return False
        return bool(self.trainer.gradient_clip_val) and isinstance(self.trainer.precision_plugin, MixedPrecision)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # `lit-dl test`/`validate` record their metrics at the checkpoint's epoch and step.
        self._checkpoint_position = (checkpoint.get("epoch"), checkpoint.get("global_step"))
        # A restored OneCycleLR keeps the length it was planned with; resuming with more epochs
        # would fail deep in the loop once it runs out, after the run had been extended.
        for state in checkpoint.get("lr_schedulers") or []:
            planned = state.get("total_steps") if isinstance(state, dict) else None
            fitting = attached_trainer(self) is not None and self.trainer.state.fn == "fit"
            if planned is not None and fitting:
                needed = int(self.trainer.estimated_stepping_batches)
                if needed > planned:
                    raise UserError(
                        f"this run's one-cycle LR schedule was planned for {planned} steps but the trainer now "
                        f"asks for {needed}; resume with the max_epochs/max_steps the run started with, "
                        "or start a new run"
                    )

    def _scheduler_defaults(self) -> dict[str, Any]:
        """The schedule lengths a user would otherwise have to compute from the trainer."""
        given, scheduler_class = unwrap_callable(self.scheduler_factory)
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
        if self.channels_last:
            inputs = [to_channels_last(x) for x in inputs]
        return tuple(inputs), target

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss = self.shared_step(batch, "train")
        return loss + self.l2_penalty() if self.l2 else loss

    def l2_penalty(self) -> Tensor:
        """`l2` times the sum of the squares of every trainable parameter."""
        trainable = [p for p in self.parameters() if p.requires_grad]
        return self.l2 * torch.stack([p.square().sum() for p in trainable]).sum()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.shared_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        inputs, _ = self._split(batch)
        return self(*inputs)

    def shared_step(self, batch: Any, stage: str) -> Tensor:
        raise NotImplementedError

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # In-memory loaders yield batches already on the training device (the CPU, or the GPU for
        # device-resident data); Lightning would still walk the batch to move every tensor.
        if isinstance(batch, (tuple, list)) and all(isinstance(t, Tensor) and t.device == device for t in batch):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    # -- logging --------------------------------------------------------------------------
    # `self.log` costs Lightning about as much CPU time as a small net's whole step (it walks
    # the logged value's record on every call), so the hot path calls it only when the value
    # is read: a training-step value when Lightning writes the logs (every `log_every_n_steps`,
    # at the end of an epoch, when stopping), and a torchmetrics object once per epoch (Lightning
    # keeps the object and computes it at the epoch's end; its `update` runs on every step).
    def _log_loss(self, stage: str, loss: Tensor, batch_size: int) -> None:
        training = stage == "train"
        if training and not self._step_is_logged():
            return
        # Logging a tensor costs no host sync: Lightning reads it when it writes the logs.
        # Epoch means are reduced across DDP ranks. Not a progress-bar value in training: Lightning
        # reads those as numbers after every batch until the epoch ends, a host sync per step
        # (lit-dl's progress bars show `train/loss` from the logged values).
        self.log(
            f"{stage}/loss",
            loss,
            on_step=training,
            on_epoch=not training,
            prog_bar=not training,
            batch_size=batch_size,
            sync_dist=not training,
        )

    def _step_is_logged(self) -> bool:
        """Whether Lightning writes the logs after this training step (every
        `log_every_n_steps` optimizer steps, at an epoch's last batch, in a fast_dev_run)."""
        trainer = attached_trainer(self)
        if trainer is None:  # plain use, outside a Trainer
            return True
        return bool(
            (trainer.global_step + 1) % trainer.log_every_n_steps == 0
            or trainer.fast_dev_run
            or is_last_batch(trainer)
        )

    def _log_metric(self, name: str, metric: Any, **kwargs: Any) -> None:
        """`self.log(name, metric, on_step=False, on_epoch=True)` once per epoch of its stage."""
        if name in self._metrics_logged:
            return
        self._metrics_logged.add(name)
        self.log(name, metric, on_step=False, on_epoch=True, **kwargs)

    def _forget_logged(self, stage: str) -> None:
        self._metrics_logged = {name for name in self._metrics_logged if not name.startswith(f"{stage}/")}

    def on_train_epoch_start(self) -> None:
        self._forget_logged("train")

    def on_validation_epoch_start(self) -> None:
        self._forget_logged("val")

    def on_test_epoch_start(self) -> None:
        self._forget_logged("test")

    def on_test_epoch_end(self) -> None:
        self._log_checkpoint_position()

    def on_validation_epoch_end(self) -> None:
        if self.trainer.state.fn == "validate":
            self._log_checkpoint_position()

    def _log_checkpoint_position(self) -> None:
        """An evaluation of a checkpoint is logged at its epoch and step (Lightning's loggers take a
        logged `step` as the step), not at the 0 of a trainer that did not train."""
        epoch, step = getattr(self, "_checkpoint_position", (None, None))
        if epoch is not None and step is not None:
            # The same values on every rank: sync_dist only says so (and keeps Lightning quiet under DDP).
            self.log("epoch", float(epoch), on_step=False, on_epoch=True, sync_dist=True)
            self.log("step", float(step), on_step=False, on_epoch=True, sync_dist=True)


def to_channels_last(x: Any) -> Any:
    """A 4-D floating-point tensor in the channels-last layout; anything else as it is."""
    if isinstance(x, Tensor) and x.dim() == 4 and x.is_floating_point():
        return x.contiguous(memory_format=torch.channels_last)
    return x
