"""The search benchmark's dry run (the benchmark itself: `python scripts/bench/search.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.paths import REPO


@pytest.mark.slow
def test_search_benchmark_dry_run(tmp_path):
    """--tiny: a grid, a Bayesian sweep and a sweep killed once and resumed, on tiny sizes."""
    out = tmp_path / "bench"
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}
    done = subprocess.run([sys.executable, "scripts/bench/search.py", "--tiny", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "search.json").read_text())
    assert results["tiny"] and results["grid_points"] == 2 and results["grid"]["epochs"] == 4
    assert results["kills"]["finished"] == results["kills"]["trials"] == 2
    assert 0 < results["bayes"]["best_acc"] <= 1
    assert "| Search, digits: bayes's epochs over the grid's |" in (out / "search.md").read_text()
