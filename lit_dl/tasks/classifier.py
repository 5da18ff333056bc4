"""Classification of any net's logits: multi-class (C logits) or binary (one logit)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from lit_dl.losses import loss_inputs
from lit_dl.tasks.base import Task


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

    def default_loss(self) -> nn.Module:
        return nn.BCEWithLogitsLoss() if self.num_outputs == 1 else nn.CrossEntropyLoss()

    def shared_step(self, batch: Any, stage: str) -> Tensor:
        inputs, target = self._split(batch)
        logits = self(*inputs)
        loss = self.loss_fn(*loss_inputs(self.loss_fn, logits, target))
        if logits.ndim == 1 or logits.shape[-1] == 1:
            predicted = (logits.reshape(-1) > 0).long()
        else:
            predicted = logits.argmax(dim=-1)
        accuracy = self.accuracy[f"{stage}_acc"]
        accuracy.update(predicted, target)
        self._log_loss(stage, loss, len(target))
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True, prog_bar=stage != "train", batch_size=len(target))
        return loss
