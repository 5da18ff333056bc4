"""The small-data method study (`scripts/bench/small_data.py`): a dry run as the script it is, and
its bookkeeping on hand-made splits (the study itself: `python scripts/bench/small_data.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scripts.bench import small_data
from tests.helpers.paths import REPO


def test_dry_run_writes_every_dataset_and_method(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/bench/small_data.py", "--splits", "2", "--epochs", "2", "--only", "diabetes,wine",
         "--out", str(tmp_path)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = json.loads((tmp_path / "small_data.json").read_text())
    assert written["seeds"] == [100, 101] and written["epochs"] == 2
    assert list(written["datasets"]) == ["diabetes", "wine"]
    diabetes = written["datasets"]["diabetes"]
    assert diabetes["metric"] == "mse" and diabetes["plain"] > 1000  # in the target's units
    assert written["datasets"]["wine"]["metric"] == "acc" and 0 <= written["datasets"]["wine"]["plain"] <= 100
    assert set(diabetes["methods"]) == set(small_data.METHODS)
    assert all(1 <= epoch <= 2 for epoch in diabetes["chosen_epochs"])
    table = (tmp_path / "small_data.md").read_text()
    assert "| diabetes | mse |" in table and "| wine | acc |" in table


def test_unknown_dataset_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as stop:
        small_data.main(["--only", "iris", "--out", str(tmp_path)])
    assert stop.value.code == 2 and not list(tmp_path.iterdir())


def test_better_means_lower_for_mse_and_higher_for_accuracy():
    splits = [{"plain": 10.0, "chosen_epoch": 5, **{m: 10.0 for m in small_data.METHODS}} for _ in range(3)]
    splits[0]["stop"], splits[1]["stop"] = 8.0, 13.0  # one lower, one higher, one the same
    regression = small_data.summarise("diabetes", splits)["methods"]["stop"]
    classes = small_data.summarise("wine", splits)["methods"]["stop"]
    assert (regression["better"], regression["worse"]) == (1, 1) == (classes["better"], classes["worse"])
    assert regression["difference"] == pytest.approx(1 / 3)
    splits[2]["stop"] = 7.0
    assert small_data.summarise("diabetes", splits)["methods"]["stop"]["better"] == 2
    assert small_data.summarise("wine", splits)["methods"]["stop"]["worse"] == 2


def test_friedman_regression_is_fixed_and_split_like_the_others():
    first, again = small_data.load("friedman1", 100), small_data.load("friedman1", 100)
    assert first["x_train"].shape == (331, 10) and first["x_test"].shape == (111, 10)
    assert first["y_train"].dtype.kind == "f"
    assert (first["y_test"] == again["y_test"]).all()
    assert not (first["y_test"] == small_data.load("friedman1", 101)["y_test"]).all()
