"""`predictions.csv`: what `lit-dl predict` predicted, in a file any spreadsheet opens.

One row per sample of the predict split (the test split unless the DataModule has a `predict`
one), in the loader's order; `id` is the sample's index in that split. A classifier's row holds
the predicted class's name and every class's probability; a regressor's its predicted values, in
the targets' own units (the Regressor's predictions already are).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lit_dl.run.layout import RunPaths
from lit_dl.run.files import write_atomically
from lit_dl.tasks.classifier import Classifier, class_labels


def class_probabilities(logits: Tensor) -> Tensor:
    """Class probabilities `(B, C)` from a classifier's logits: softmax over C logits, or for one
    binary logit (`(B,)` or `(B, 1)`) the two columns `1 - sigmoid`, `sigmoid`."""
    if logits.ndim == 1 or logits.shape[-1] == 1:
        positive = torch.sigmoid(logits.reshape(-1, 1))
        return torch.cat([1 - positive, positive], dim=1)
    return torch.softmax(logits, dim=-1)


def record_predictions(session: Any, outputs: list[Any], task: Any, datamodule: Any) -> None:
    """`lit-dl predict`'s outputs in the run: the raw tensor, the table, and the record."""
    session.run_dir.mkdir(parents=True, exist_ok=True)
    path = session.paths.predictions
    predicted = torch.cat([torch.as_tensor(batch) for batch in outputs])
    torch.save(predicted, path)
    session.evaluated("predict", str(session.plan.checkpoint), {})
    print(f"predictions: {path}")
    print(f"predictions table: {write_predictions_table(session.run_dir, predicted, task, datamodule)}")
    print(session.run_dir, flush=True)


def write_predictions_table(run_dir: Path, predicted: Tensor, task: Any, datamodule: Any) -> Path:
    """Write `run_dir/predictions.csv` from the predict loop's outputs, one row each; returns its path."""
    predicted = predicted.detach().float().cpu()
    if isinstance(task, Classifier):
        probabilities = class_probabilities(predicted)
        names = class_labels(datamodule, probabilities.shape[1])
        header = ["id", "predicted_class", *(f"probability_{name}" for name in names)]
        rows = [[names[int(row.argmax())], *row.tolist()] for row in probabilities]
    else:
        values = predicted.reshape(len(predicted), -1)
        header = ["id", *(["prediction"] if values.shape[1] == 1 else [f"prediction_{i}" for i in range(values.shape[1])])]
        rows = [row.tolist() for row in values]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([index, *(_cell(value) for value in row)] for index, row in enumerate(rows))
    path = RunPaths(Path(run_dir)).predictions_table
    write_atomically(path, text.getvalue())
    return path


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value
