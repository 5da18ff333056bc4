"""The task the data asks for, so that one experiment file serves class labels and continuous targets."""

from __future__ import annotations

from typing import Any

from lit_dl.errors import UserError
from lit_dl.tasks.base import Task
from lit_dl.tasks.classifier import Classifier
from lit_dl.tasks.data_checks import TaskKind
from lit_dl.tasks.regressor import Regressor


class Supervised(Task):
    """Becomes a `Classifier` when the data holds class labels and a `Regressor` when it holds
    continuous targets; the CLI links `task` from the DataModule:

        model:
          class_path: lit_dl.tasks.Supervised
          init_args:
            net: {class_path: lit_dl.nets.MLP, init_args: {hidden_dims: [256, 128]}}

    `Supervised(net=..., task="regression")` returns a `Regressor`; its checkpoint loads with
    `Regressor.load_from_checkpoint`, and the run's config.yaml reruns as `Supervised`.

    Args:
        task: classification or regression, from the DataModule.
        tta_flip: the Classifier's test-time flip of images (classification only).
        *args, **kwargs: those of `Task` (net, loss, optimizer, scheduler, ...).
    """

    def __new__(cls, *args: Any, task: TaskKind | None = None, tta_flip: bool = False, **kwargs: Any) -> Task:
        # The CLI's parser takes `task`, `tta_flip` and their defaults from this signature (the rest from Task's,
        # through **kwargs). No `__init__` runs on a Supervised: the object returned is a Classifier or a Regressor.
        if task == "classification":
            return Classifier(*args, tta_flip=tta_flip, task=task, **kwargs)
        if task == "regression":
            if tta_flip:
                raise UserError("tta_flip averages a classifier's logits over mirror images; the data's targets are continuous, set tta_flip: false")
            return Regressor(*args, task=task, **kwargs)
        raise UserError(
            f"lit_dl.tasks.Supervised follows the data's task, but got task {task!r}; use a DataModule that "
            "reports its task (classification or regression), or choose lit_dl.tasks.Classifier or Regressor"
        )
