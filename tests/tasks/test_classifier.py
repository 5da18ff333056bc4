"""The classifier's per-class test metrics: their names, and the steps that feed them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
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


def test_a_test_without_batches_leaves_no_per_class_record():
    """`limit_test_batches=0`, or an empty test split: nothing to compute, no confusion matrix."""
    task = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3)
    task.test_per_class = {"labels": ["0", "1", "2"]}  # an earlier test's
    task.on_test_epoch_start()
    task.on_test_epoch_end()
    assert task.test_per_class is None and task.confusion_matrix() is None


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


def test_float_labels_of_one_logit_a_sample_count_as_labels_in_the_accuracy():
    """A binary net's one logit a sample with 0/1 labels stored as floats: the accuracy compares
    the predicted class with each label (they are not class probabilities to take the argmax of)."""
    task = Classifier(OneLogit(), num_outputs=2)
    task.log = lambda *args, **kwargs: None
    inputs, labels = torch.randn(16, 4), torch.tensor([0.0, 1.0] * 8)
    task.shared_step((inputs, labels), "val")
    with torch.no_grad():
        predicted = (task.net(inputs) > 0).float()
    torch.testing.assert_close(task.accuracy["val_acc"].compute(), (predicted == labels).float().mean())


def per_class_results(num_classes: int, predicted: list[int], target: list[int]) -> tuple[dict, dict]:
    task = Classifier(MLP((4,), num_classes, hidden_dims=[8]), num_outputs=num_classes)
    task.trainer = SimpleNamespace(datamodule=None)
    logged = {}
    task.log_dict = lambda values, **_: logged.update({k: float(v) for k, v in values.items()})
    task._update_test_metrics(torch.tensor(predicted), torch.tensor(target), num_classes)
    task.on_test_epoch_end()
    return task.test_per_class, logged


def test_per_class_results_are_recorded_to_six_decimals():
    per_class, logged = per_class_results(3, predicted=[0, 0, 1, 1, 2, 2, 0], target=[0, 1, 1, 2, 2, 0, 0])
    assert per_class["confusion_matrix"] == [[2, 0, 1], [1, 1, 0], [0, 1, 1]] and per_class["support"] == [3, 2, 2]
    assert per_class["precision"] == [round(2 / 3, 6), 0.5, 0.5] and per_class["recall"] == [round(2 / 3, 6), 0.5, 0.5]
    assert per_class["f1_macro"] == round((2 / 3 + 0.5 + 0.5) / 3, 6) == 0.555556
    assert logged["test/f1_macro"] == pytest.approx(5 / 9) and logged["test/f1/2"] == pytest.approx(0.5)


@pytest.mark.parametrize(("classes", "per_class_logged"), [(100, True), (101, False)])
def test_up_to_100_classes_log_their_per_class_values(classes, per_class_logged):
    """Beyond 100 classes the per-class values go to test_per_class only (metrics.csv would get
    three columns a class)."""
    per_class, logged = per_class_results(classes, predicted=list(range(classes)), target=list(range(classes)))
    assert len(per_class["f1"]) == classes and "test/f1_macro" in logged
    assert (f"test/recall/{classes - 1}" in logged) is per_class_logged
    assert len(logged) == (1 + 3 * classes if per_class_logged else 1)


def test_class_names_of_another_count_are_not_used():
    assert class_labels(SimpleNamespace(class_names=["a", "b", "c", "d"]), 3) == ["0", "1", "2"]
    assert class_labels(SimpleNamespace(class_names=None), 2) == ["0", "1"]
