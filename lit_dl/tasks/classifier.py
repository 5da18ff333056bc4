"""Classification of any net's logits: multi-class (C logits) or binary (one logit)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from lit_dl.losses import loss_inputs
from lit_dl.tasks.base import Task

# By the net's output, not the data's class count: a Perceptron's one logit on 2-class data
# needs binary cross-entropy although the data reports two classes.
_DEFAULT_LOSSES = {True: nn.BCEWithLogitsLoss(), False: nn.CrossEntropyLoss()}


class Classifier(Task):
    """Trains a net whose output is `(B, C)` class logits, or `(B, 1)` / `(B,)` for a binary
    problem (then the loss is binary cross-entropy on the logit unless another is given).

    Logs `{train,val,test}/loss` and `{train,val,test}/acc`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        num_classes = max(self.num_outputs, 2)
        # One metric object per stage: their states must not mix (val runs inside a train epoch).
        self.accuracy = nn.ModuleDict(
            {
                f"{stage}_acc": MulticlassAccuracy(num_classes, average="micro", validate_args=False)
                for stage in ("train", "val", "test")
            }
        )

    def default_loss(self) -> None:
        # Chosen per batch from the net's output (see `_DEFAULT_LOSSES`).
        return None

    def shared_step(self, batch: Any, stage: str) -> Tensor:
        inputs, target = self._split(batch)
        logits = self(*inputs)
        single_logit = logits.ndim == 1 or logits.shape[-1] == 1
        loss_fn = self.loss_fn if self.loss_fn is not None else _DEFAULT_LOSSES[single_logit]
        loss = loss_fn(*loss_inputs(loss_fn, logits, target))
        predicted = (logits.reshape(-1) > 0).long() if single_logit else logits.argmax(dim=-1)
        accuracy = self.accuracy[f"{stage}_acc"]
        accuracy.update(predicted, target)
        self._log_loss(stage, loss, len(target))
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True, prog_bar=stage != "train", batch_size=len(target))
        return loss
