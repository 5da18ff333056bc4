"""Classifier runs leave their per-class test results: the confusion matrix (figure and numbers),
per-class precision/recall/F1 and macro F1, after fit's test and after `lit-dl test`; `compare`
shows macro F1."""

from __future__ import annotations

import csv
import json

import pytest

from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART


def test_fit_and_test_leave_per_class_results(fit_quickstart, lit_dl, tmp_path):
    run_dir = fit_quickstart()
    results = json.loads((run_dir / "results.json").read_text())
    per_class = results["per_class"]
    assert per_class["labels"] == ["0", "1", "2"]  # the three spiral arms
    matrix = per_class["confusion_matrix"]
    assert sum(map(sum, matrix)) == 256 == sum(per_class["support"])  # every test sample counted once
    assert sum(matrix[i][i] for i in range(3)) / 256 == pytest.approx(results["test"]["test/acc"], abs=1e-6)
    assert results["test"]["test/f1_macro"] == pytest.approx(per_class["f1_macro"], abs=1e-6)
    assert not any(key.count("/") > 1 for key in results["test"]), "per-class values stay out of the test summary"
    assert per_class["figure"] == "confusion_matrix.png"
    assert (run_dir / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    with open(run_dir / "metrics.csv", newline="") as file:
        header = next(csv.reader(file))
    assert {"test/f1_macro", "test/precision/0", "test/recall/2", "test/f1/1"} <= set(header)
    assert not any(name.startswith(("train/f1", "val/f1", "train/precision", "val/precision")) for name in header)

    fit_figure = (run_dir / "confusion_matrix.png").read_bytes()
    code, out, err = lit_dl(
        "test", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path / "runs", *SMALL_QUICKSTART,
        "--ckpt_path", "last",
    )
    assert code == 0, err
    evaluation = json.loads((run_dir / "results.json").read_text())["evaluations"][-1]
    assert evaluation["per_class"]["figure"] == "confusion_matrix_last.png"
    assert sum(evaluation["per_class"]["support"]) == 256
    assert "test/f1_macro" in evaluation["metrics"]
    assert (run_dir / "confusion_matrix_last.png").is_file()
    assert (run_dir / "confusion_matrix.png").read_bytes() == fit_figure, "the fit's figure is never rewritten"

    code, out, err = lit_dl("compare", run_dir, "--metric", "test/f1_macro", "--format", "csv")
    assert code == 0, err
    header, row = list(csv.reader(out.splitlines()))[:2]
    assert float(row[header.index("test/f1_macro")]) == pytest.approx(per_class["f1_macro"], abs=1e-6)
    assert float(row[header.index("test/f1_macro (best)")]) == pytest.approx(per_class["f1_macro"], abs=1e-6)
