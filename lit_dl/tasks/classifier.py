"""Classification of any net's logits: multi-class (C logits) or binary (one logit)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from lit_dl.errors import UserError
from lit_dl.losses import loss_inputs
from lit_dl.tasks.base import Task, to_channels_last

# By the net's output, not the data's class count: a Perceptron's one logit on 2-class data
# needs binary cross-entropy although the data reports two classes.
_DEFAULT_LOSSES = {True: nn.BCEWithLogitsLoss(), False: nn.CrossEntropyLoss()}


class Accuracy(Metric):
    """The share of predicted class indices that equal the targets, summed over DDP ranks.

    The same number as torchmetrics' `MulticlassAccuracy(average="micro")` on class indices, at
    a sixth of its per-batch cost: `update` is one comparison and two in-place additions on the
    predictions' device, with no host sync.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predicted: Tensor, target: Tensor) -> None:
        # In place: `+=` would also re-register each state through nn.Module.__setattr__.
        self.correct.add_(torch.count_nonzero(predicted.reshape(-1) == target.reshape(-1)))
        self.total.add_(target.numel())

    def compute(self) -> Tensor:
        return self.correct.float() / self.total


class Classifier(Task):
    """Trains a net whose output is `(B, C)` class logits, or `(B, 1)` / `(B,)` for a binary
    problem (then the loss is binary cross-entropy on the logit unless another is given).

    Logs `{train,val,test}/loss` and `{train,val,test}/acc`.

    Args:
        tta_flip: test-time augmentation for images: in validation, test and predict the logits
            are the mean of the net's logits for the batch and for its horizontal mirror image.
        *args, **kwargs: those of `Task` (net, loss, optimizer, scheduler, ...).
    """

    def __init__(self, *args: Any, tta_flip: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tta_flip = tta_flip
        # One metric object per stage: their states must not mix (val runs inside a train epoch).
        self.accuracy = nn.ModuleDict({f"{stage}_acc": Accuracy() for stage in ("train", "val", "test")})

    def metric_names(self) -> list[str]:
        return [*super().metric_names(), *(f"{stage}/acc" for stage in ("train", "val", "test"))]

    def default_loss(self) -> None:
        # Chosen per batch from the net's output (see `_DEFAULT_LOSSES`).
        return None

    def logits(self, inputs: tuple[Tensor, ...], stage: str) -> Tensor:
        """The net's logits for a batch's inputs; with `tta_flip`, outside training, averaged
        with those of the horizontally flipped images."""
        logits = self(*inputs)
        if not self.tta_flip or stage == "train":
            return logits
        images, *rest = inputs
        if images.dim() != 4:
            raise UserError(
                f"tta_flip averages each image with its mirror image, but this data's inputs have shape "
                f"{list(images.shape)}, not (batch, channels, height, width); set tta_flip: false"
            )
        flipped = images.flip(-1)
        if self.channels_last:
            flipped = to_channels_last(flipped)
        return (logits + self(flipped, *rest)) / 2

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        inputs, _ = self._split(batch)
        return self.logits(inputs, "predict")

    def shared_step(self, batch: Any, stage: str) -> Tensor:
        inputs, target = self._split(batch)
        logits = self.logits(inputs, stage)
        single_logit = logits.ndim == 1 or logits.shape[-1] == 1
        loss_fn = self.loss_fn if self.loss_fn is not None else _DEFAULT_LOSSES[single_logit]
        loss = loss_fn(*loss_inputs(loss_fn, logits, target))
        predicted = (logits.reshape(-1) > 0).long() if single_logit else logits.argmax(dim=-1)
        accuracy = self.accuracy[f"{stage}_acc"]
        accuracy.update(predicted, target)
        self._log_loss(stage, loss, len(target))
        self._log_metric(f"{stage}/acc", accuracy, prog_bar=stage != "train")
        return loss
