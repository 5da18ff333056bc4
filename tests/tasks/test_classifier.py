"""The classifier's per-class test metrics: their names, and the steps that feed them."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from lit_dl.nets import MLP
from lit_dl.tasks import Classifier
from lit_dl.tasks.classifier import class_labels


def test_class_names_label_the_classes_when_there_is_one_per_class():
    names = [f"species/{i}" for i in range(300)]  # more classes than Python keeps one int object for
    assert class_labels(SimpleNamespace(class_names=names), 300) == [f"species-{i}" for i in range(300)]
    assert class_labels(SimpleNamespace(class_names=names[:299]), 300) == [str(i) for i in range(300)]
    assert class_labels(object(), 3) == ["0", "1", "2"]


def test_only_test_steps_feed_the_per_class_test_metrics():
    """Training and validation steps leave them alone (they would cost every step, and be reset
    before the test anyway)."""
    task = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3)
    batch = (torch.randn(8, 4), torch.randint(0, 3, (8,)))
    for stage in ("train", "val"):
        task.shared_step(batch, stage)
    assert task.test_metrics is None
    task.shared_step(batch, "test")
    assert task.test_metrics is not None


def test_the_progress_bar_shows_validation_and_test_accuracy_not_trainings():
    task = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3)
    shown = {}
    task.log = lambda name, value, prog_bar=False, **_: shown.setdefault(name, prog_bar)
    batch = (torch.randn(8, 4), torch.randint(0, 3, (8,)))
    for stage in ("train", "val", "test"):
        task.shared_step(batch, stage)
    assert {name: bar for name, bar in shown.items() if name.endswith("/acc")} == {"train/acc": False, "val/acc": True, "test/acc": True}


class OneLogit(torch.nn.Module):
    """A binary classifier's net that returns one logit a sample as shape (B,), like its labels."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


def test_labels_shaped_like_one_logit_a_sample_are_labels_not_class_probabilities():
    """Soft targets (MixUp, CutMix) are floats of the logits' shape over two or more classes."""
    task = Classifier(OneLogit(), num_outputs=2)
    task.log = lambda *args, **kwargs: None
    loss = task.shared_step((torch.randn(8, 4), torch.randint(0, 2, (8,))), "train")
    assert loss.ndim == 0 and torch.isfinite(loss)
