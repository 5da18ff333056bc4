"""Per-class test results of the Classifier: confusion matrix, precision, recall and F1 per class
and macro F1, checked against scikit-learn on the same predictions (real data: the iris flowers)."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from lit_dl.data import InMemoryDataModule
from lit_dl.nets import MLP, Perceptron
from lit_dl.plots import plot_confusion_matrix
from lit_dl.tasks import Classifier


class Iris(InMemoryDataModule):
    """The 150 iris flowers, standardised; every split is the whole set (a metrics test, not a benchmark)."""

    def __init__(self, binary: bool = False, class_names: list[str] | None = None) -> None:
        super().__init__(batch_size=32, eval_batch_size=64)  # several test batches: counts must add up
        data = load_iris()
        x = torch.tensor(data.data, dtype=torch.float32)
        x = (x - x.mean(0)) / x.std(0)
        y = torch.tensor(data.target)
        if binary:
            y = (y == 0).long()  # setosa or not
        self.input_shape, self.num_outputs = (4,), 2 if binary else 3
        if class_names is not None:
            self.class_names = class_names
        self.splits = {split: (x, y) for split in ("train", "val", "test")}


def fit_and_test(task: Classifier, data: Iris, epochs: int = 3) -> tuple[dict, dict]:
    trainer = pl.Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, data)
    fit_metrics = dict(trainer.callback_metrics)
    return fit_metrics, trainer.test(task, data, verbose=False)[0]


def predictions(task: Classifier, data: Iris) -> np.ndarray:
    x, _ = data.splits["test"]
    with torch.no_grad():
        logits = task(x)
    return ((logits.reshape(-1) > 0).long() if logits.shape[-1] == 1 else logits.argmax(-1)).numpy()


def test_multiclass_per_class_results_match_scikit_learn():
    torch.manual_seed(0)
    data = Iris(class_names=["setosa", "versicolor", "virginica"])
    task = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3, optimizer=lambda p: torch.optim.Adam(p, lr=0.01))
    fit_metrics, test = fit_and_test(task, data)

    assert not any("f1" in name or "precision" in name for name in fit_metrics), "fit must not compute them"
    truth, predicted = data.splits["test"][1].numpy(), predictions(task, data)
    per_class = task.test_per_class
    assert per_class["labels"] == ["setosa", "versicolor", "virginica"]
    assert np.array_equal(task.confusion_matrix().numpy(), confusion_matrix(truth, predicted, labels=[0, 1, 2]))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=[0, 1, 2], zero_division=0)
    for name, expected in (("precision", precision), ("recall", recall), ("f1", f1)):
        assert per_class[name] == pytest.approx(expected, abs=1e-6)
        for label, value in zip(per_class["labels"], expected):
            assert test[f"test/{name}/{label}"] == pytest.approx(value, abs=1e-6)
    assert per_class["support"] == support.tolist() == [50, 50, 50]
    macro = f1_score(truth, predicted, average="macro", zero_division=0)
    assert test["test/f1_macro"] == pytest.approx(macro, abs=1e-6) == per_class["f1_macro"]
    recorded = [*per_class["precision"], *per_class["recall"], *per_class["f1"], per_class["f1_macro"]]
    assert all(round(value, 6) == value for value in recorded)  # six decimals: float32's noise beyond them stays out of results.json


def test_binary_single_logit_gets_two_classes():
    torch.manual_seed(0)
    data = Iris(binary=True)
    task = Classifier(Perceptron((4,), 2), num_outputs=2, optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    _, test = fit_and_test(task, data)

    truth, predicted = data.splits["test"][1].numpy(), predictions(task, data)
    assert task.test_per_class["labels"] == ["0", "1"]  # no class_names: the class indices
    assert np.array_equal(task.confusion_matrix().numpy(), confusion_matrix(truth, predicted, labels=[0, 1]))
    assert test["test/f1/1"] == pytest.approx(f1_score(truth, predicted), abs=1e-6)
    assert test["test/f1_macro"] == pytest.approx(f1_score(truth, predicted, average="macro"), abs=1e-6)


def test_confusion_matrix_figure(tmp_path):
    path = plot_confusion_matrix([[5, 1], [0, 7]], ["cat", "dog"], tmp_path / "figures" / "confusion_matrix.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
