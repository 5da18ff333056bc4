"""One-line errors, before training, for a task that does not fit its data."""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from lit_dl.errors import UserError
from lit_dl.losses import REGRESSION_LOSSES, FocalLoss

CLASSIFICATION_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.BCEWithLogitsLoss, nn.BCELoss, FocalLoss)

TaskKind = Literal["classification", "regression"]
TASK_CLASSES = {"classification": "lit_dl.tasks.Classifier", "regression": "lit_dl.tasks.Regressor"}
_TARGETS = {"classification": "class labels", "regression": "continuous targets"}


def check_task(model_task: TaskKind, data_task: str | None) -> None:
    """The model's task agrees with the data's (None: the data does not say)."""
    if data_task is None or data_task == model_task:
        return
    if data_task not in TASK_CLASSES:
        raise UserError(f"unknown task {data_task!r}; choose classification or regression")
    raise UserError(
        f"the data holds {_TARGETS[data_task]} ({data_task}) but the model is {TASK_CLASSES[model_task]}; "
        f"set model.class_path to lit_dl.tasks.Supervised (it follows the data) or {TASK_CLASSES[data_task]}"
    )


def data_task_of(trainer: Any) -> str | None:
    """The task the trainer's DataModule reports, if it reports one."""
    return getattr(getattr(trainer, "datamodule", None), "task", None)


def check_classification_loss(loss: nn.Module | None, num_classes: int) -> None:
    """A classifier's loss is a classification loss, and its class weights number the classes."""
    if loss is None:
        return
    if isinstance(loss, REGRESSION_LOSSES):
        raise UserError(
            f"{type(loss).__name__} is a regression loss but the model is lit_dl.tasks.Classifier; leave loss out "
            "(cross-entropy) or use lit_dl.tasks.Regressor for continuous targets"
        )
    if num_classes < 2:
        return  # one logit, or a class count the data did not link
    for name in ("weight", "alpha"):
        weights = getattr(loss, name, None)
        if weights is not None and weights.dim() == 1 and weights.numel() != num_classes:
            raise UserError(
                f"the loss's {name} has {weights.numel()} entries but the data has {num_classes} classes; "
                "give one weight per class"
            )


def check_regression_loss(loss: nn.Module) -> None:
    """A regressor's loss is not one made for class labels."""
    if isinstance(loss, CLASSIFICATION_LOSSES):
        raise UserError(
            f"{type(loss).__name__} is a classification loss but the model is lit_dl.tasks.Regressor; leave loss out "
            "(MSE) or use lit_dl.tasks.Classifier for class labels"
        )
