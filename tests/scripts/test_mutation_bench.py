"""The mutation benchmark's dry run (the benchmark itself: `python scripts/bench/mutation.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.paths import REPO


@pytest.mark.slow
def test_mutation_benchmark_dry_run(tmp_path):
    """--tiny: the coverage of two test files, two mutants per package and the issue's hand-made
    survivors, tested in a copy of the checkout; the checkout itself is never mutated."""
    out, before = tmp_path / "bench", _lit_dl_text()
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}
    done = subprocess.run([sys.executable, "scripts/bench/mutation.py", "--tiny", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _lit_dl_text() == before
    results = json.loads((out / "mutation.json").read_text())
    assert results["tiny"] and results["baseline_tests"]["passed"] > 0
    assert [m["package"] for m in results["mutants"]] == ["run", "training", "tasks", "commands"] * 2  # drawn in turns
    assert {m["status"] for m in results["mutants"]} <= {"killed", "survived", "timeout", "incompetent"}
    versions = next(n for n in results["named"] if n["module"] == "lit_dl/run/layout.py")  # its tests are among the two files
    assert versions["status"] == "killed" and versions["killed_by"].startswith("tests/run/test_layout.py::")
    assert "| Mutation: the issue's hand-made survivors | all killed |" in (out / "mutation.md").read_text()


def _lit_dl_text() -> dict[str, str]:
    return {str(p): p.read_text() for p in sorted((REPO / "lit_dl").rglob("*.py"))}
