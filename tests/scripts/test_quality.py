"""The quality benchmark's dataset writer and a one-epoch dry run of the benchmark (run as the
scripts they are; the benchmark itself: `python scripts/bench/quality.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lit_dl.data import ArrayDataModule
from tests.helpers.paths import REPO

ENV = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}


def run_script(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_writer_makes_files_array_datamodule_reads(tmp_path):
    run_script("scripts/make_sklearn_arrays.py", str(tmp_path), "--seed", "3")
    digits = np.load(tmp_path / "digits.npz")
    assert digits["x_train"].shape == (1347, 64) and digits["x_test"].shape == (450, 64)
    assert digits["y_train"].dtype == np.int64 and set(np.unique(digits["y_test"])) == set(range(10))

    as_images = ArrayDataModule(str(tmp_path / "digits.npz"), input_shape=[1, 8, 8])
    assert as_images.task == "classification" and as_images.num_classes == 10
    assert as_images.splits["test"][0].shape == (450, 1, 8, 8)
    assert ArrayDataModule(str(tmp_path / "wine.npz")).num_classes == 3
    assert ArrayDataModule(str(tmp_path / "breast_cancer.npz")).num_classes == 2
    diabetes = ArrayDataModule(str(tmp_path / "diabetes.npz"))  # whole-number scores: still regression
    assert diabetes.task == "regression" and diabetes.num_outputs == 1 and diabetes.target_mean.item() > 100

    # Splits are stratified and depend on the seed only.
    again = tmp_path / "again"
    run_script("scripts/make_sklearn_arrays.py", str(again), "--seed", "3", "--only", "wine")
    assert [p.name for p in again.iterdir()] == ["wine.npz"]
    assert np.array_equal(np.load(again / "wine.npz")["y_test"], np.load(tmp_path / "wine.npz")["y_test"])
    counts = np.bincount(np.load(tmp_path / "wine.npz")["y_test"])
    assert counts.tolist() == [15, 18, 12]


def test_writer_makes_image_like_and_signal_sets(tmp_path):
    run_script("scripts/make_sklearn_arrays.py", str(tmp_path), "--only", "digits28,signals")
    digits = np.load(tmp_path / "digits28.npz")
    images = digits["x_train"].reshape(-1, 28, 28)
    assert digits["x_train"].dtype == np.uint8 and images.max() == 255 and len(images) == 1347
    assert not images[:, :2].any() and not images[:, :, -2:].any()  # the zero-padded border
    constant = (digits["x_train"].std(axis=0) == 0).sum()
    assert constant > 100  # empty borders: the case where per-pixel scaling went wrong
    signals = np.load(tmp_path / "signals.npz")
    assert signals["x_train"].shape == (3750, 40) and signals["x_test"].shape == (1250, 40)
    assert np.bincount(signals["y_train"]).tolist() == [375] * 10

    as_sequences = ArrayDataModule(str(tmp_path / "signals.npz"), input_shape=[40, 1])
    assert as_sequences.num_classes == 10 and as_sequences.choices == {"standardize": "channel"}
    as_images = ArrayDataModule(str(tmp_path / "digits28.npz"), input_shape=[1, 28, 28])
    x, _ = as_images.tensors("train")
    assert x.shape[1:] == (1, 28, 28) and abs(x.mean().item()) < 1e-3 and abs(x.std().item() - 1) < 1e-2


@pytest.mark.slow
def test_quality_benchmark_dry_run(tmp_path):
    out = tmp_path / "bench"
    run_script("scripts/bench/quality.py", "--dry-run", "--only", "diabetes_mlp,signals_gru", "--out", str(out))
    results = json.loads((out / "quality.json").read_text())
    assert results["dry_run"] and results["plain_epochs"] == 1 and list(results["cases"]) == ["diabetes_mlp", "signals_gru"]
    signals = results["runs"]["signals_gru"][0]["lit"]
    assert signals["net"] == "GRU" and signals["data"] == {"standardize": "channel"}  # read as [40, 1]
    row = results["cases"]["diabetes_mlp"]
    # A regression case: lit-dl's recipe trained a regressor (an MSE in the targets' units).
    assert row["metric"] == "mse" and row["lit"]["mse"] > 100 and {"ridge", "gboost"} <= set(row["classical"])
    assert row["lit"]["wall_s"] > 0 and row["plain"]["wall_s"] > 0 and isinstance(row["accurate"], bool)
    table = (out / "quality.md").read_text()
    assert "| diabetes_mlp | mse |" in table and "| signals_gru | acc |" in table and "Goal:" in table


def test_small_test_sets_get_ten_splits_and_a_paired_difference():
    from scripts.bench import quality

    assert quality.case_seeds("wine_mlp", [0, 1, 2]) == list(range(10))
    assert quality.case_seeds("digits_mlp", [0, 1, 2]) == [0, 1, 2]
    assert quality.case_seeds("diabetes_mlp", [0]) == [0]  # one split asked for: one split
    assert quality.case_seeds("breast_cancer_mlp", [4, 7]) == [4, 7, 8, 9, 10, 11, 12, 13, 14, 15]

    def split(lit: float, plain: float) -> dict:
        learner = {"acc": 0.0, "wall_s": 1.0, "cpu_s": 1.0, "train_s": 1.0}
        return {"lit": {**learner, "acc": lit}, "plain": {**learner, "acc": plain}, "classical": {"logistic": {"acc": 0.9, "wall_s": 0.1}}}

    summary = quality.summarise([split(0.98, 0.97), split(0.96, 0.97), split(0.99, 0.97)])
    assert summary["splits"] == 3 and summary["difference"] == pytest.approx((0.01 - 0.01 + 0.02) / 3)
    assert summary["difference_se"] == pytest.approx(np.std([0.01, -0.01, 0.02], ddof=1) / 3**0.5)
    assert quality.summarise([split(0.98, 0.97)])["difference_se"] is None
