"""Classification of any net's logits: multi-class (C logits) or binary (one logit)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from lit_dl.errors import UserError
from lit_dl.internals import attached_trainer
from lit_dl.losses import loss_inputs
from lit_dl.tasks.base import Task, to_channels_last
from lit_dl.tasks.data_checks import TaskKind, check_classification_loss, check_task, data_task_of

# By the net's output, not the data's class count: a Perceptron's one logit on 2-class data
# needs binary cross-entropy although the data reports two classes.
_DEFAULT_LOSSES = {True: nn.BCEWithLogitsLoss(), False: nn.CrossEntropyLoss()}
# The losses that take class probabilities as targets (MixUp and CutMix batches).
_SOFT_TARGET_LOSSES = (nn.CrossEntropyLoss, nn.BCEWithLogitsLoss)
# Beyond this many classes the per-class values go to `test_per_class` only: logging them would
# give metrics.csv and the trackers three columns a class.
MAX_LOGGED_CLASSES = 100
PER_CLASS_PREFIXES = ("test/precision/", "test/recall/", "test/f1/")


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

    Logs `{train,val,test}/loss` and `{train,val,test}/acc`; on test also `test/f1_macro` and
    per class `test/precision/<class>`, `test/recall/<class>`, `test/f1/<class>` (torchmetrics,
    `average=None`; class names from the DataModule's `class_names` when it has them, else the
    class indices). After a test epoch `test_per_class` holds those values with the confusion
    matrix; training and validation steps do none of this work.

    Targets are class indices, or class probabilities `(B, C)` (as MixUp and CutMix make them):
    cross-entropy takes those as they are, and accuracy counts the most probable class.

    Args:
        tta_flip: test-time augmentation for images: in validation, test and predict the logits
            are the mean of the net's logits for the batch and for its horizontal mirror image.
        task: the data's task, linked from the DataModule; regression (continuous targets) is
            an error, as are a regression loss and class weights that do not number the classes.
        *args, **kwargs: those of `Task` (net, loss, optimizer, scheduler, ...).
    """

    def __init__(self, *args: Any, tta_flip: bool = False, task: TaskKind | None = None, **kwargs: Any) -> None:
        check_task("classification", task)
        super().__init__(*args, **kwargs)
        check_classification_loss(self.loss_fn, self.num_outputs)
        self.tta_flip = tta_flip
        # One metric object per stage: their states must not mix (val runs inside a train epoch).
        self.accuracy = nn.ModuleDict({f"{stage}_acc": Accuracy() for stage in ("train", "val", "test")})
        # Built at the first test batch, when the logits tell the class count.
        self.test_metrics: MetricCollection | None = None
        self.test_per_class: dict[str, Any] | None = None

    def setup(self, stage: str) -> None:
        check_task("classification", data_task_of(attached_trainer(self)))

    def metric_names(self) -> list[str]:
        return [*super().metric_names(), *(f"{stage}/acc" for stage in ("train", "val", "test")), "test/f1_macro"]

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
        soft = not single_logit and target.is_floating_point() and target.shape == logits.shape
        if soft and not isinstance(loss_fn, _SOFT_TARGET_LOSSES):
            raise UserError(
                f"this data gives class probabilities as targets (MixUp/CutMix) but {type(loss_fn).__name__} takes "
                "class indices; use torch.nn.CrossEntropyLoss, or turn off the data's mixup and cutmix"
            )
        loss = loss_fn(*loss_inputs(loss_fn, logits, target))
        predicted = (logits.reshape(-1) > 0).long() if single_logit else logits.argmax(dim=-1)
        accuracy = self.accuracy[f"{stage}_acc"]
        classes = target.argmax(dim=-1) if soft else target
        accuracy.update(predicted, classes)
        if stage == "test":
            self._update_test_metrics(predicted, classes, num_classes=2 if single_logit else logits.shape[-1])
        self._log_loss(stage, loss, len(target))
        self._log_metric(f"{stage}/acc", accuracy, prog_bar=stage != "train")
        return loss

    # -- per-class results on test ----------------------------------------------------------
    def _update_test_metrics(self, predicted: Tensor, target: Tensor, num_classes: int) -> None:
        if self.test_metrics is None:
            self.test_metrics = per_class_metrics(num_classes).to(predicted.device)
        self.test_metrics.update(predicted, target.reshape(-1).long())

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self.test_metrics, self.test_per_class = None, None

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        if self.test_metrics is None:  # no test batch
            return
        values = self.test_metrics.compute()  # summed over DDP ranks: every rank holds the same values
        self.test_metrics = None
        labels = class_labels(self.trainer.datamodule, len(values["confusion_matrix"]))
        logged = {"test/f1_macro": values["f1_macro"]}
        if len(labels) <= MAX_LOGGED_CLASSES:
            for name in ("precision", "recall", "f1"):
                logged.update({f"test/{name}/{label}": value for label, value in zip(labels, values[name])})
        # sync_dist only keeps Lightning from warning under DDP: the values are already reduced.
        self.log_dict(logged, sync_dist=True)
        matrix = values["confusion_matrix"].cpu()
        self.test_per_class = {
            "labels": labels,
            "confusion_matrix": matrix.tolist(),
            "support": matrix.sum(dim=1).tolist(),
            # Six decimals: float32 digits beyond those are noise in results.json.
            **{name: [round(v, 6) for v in values[name].tolist()] for name in ("precision", "recall", "f1")},
            "f1_macro": round(float(values["f1_macro"]), 6),
        }

    def confusion_matrix(self) -> Tensor | None:
        """The last test's confusion matrix: row i counts the samples of class i by predicted class."""
        return None if self.test_per_class is None else torch.tensor(self.test_per_class["confusion_matrix"])


def is_per_class_metric(name: str) -> bool:
    """Whether a logged metric is one class's value (`test/f1/cat`) rather than the whole set's."""
    return name.startswith(PER_CLASS_PREFIXES)


def per_class_metrics(num_classes: int) -> MetricCollection:
    """The confusion matrix, per-class precision, recall and F1, and macro F1 over class indices;
    the F1s, precision and recall share one set of counts (torchmetrics' compute groups), so a
    batch costs two updates."""
    return MetricCollection(
        {
            "confusion_matrix": MulticlassConfusionMatrix(num_classes),
            "precision": MulticlassPrecision(num_classes, average=None),
            "recall": MulticlassRecall(num_classes, average=None),
            "f1": MulticlassF1Score(num_classes, average=None),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
        }
    )


def class_labels(datamodule: Any, num_classes: int) -> list[str]:
    """The DataModule's `class_names` when it has one per class, else "0", "1", ...; a "/" in a
    name would nest the metric name further, so it becomes "-"."""
    names = getattr(datamodule, "class_names", None)
    if names is None or len(names) != num_classes:
        names = range(num_classes)
    return [str(name).replace("/", "-") for name in names]
