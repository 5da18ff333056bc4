"""`lit-dl sweep --slurm`: the trials as one job array on the private cluster."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
MAX_LR = "model.init_args.scheduler.init_args.max_lr"
SMALL = ["--trainer.max_epochs", "1", "--data.init_args.n_train", "256", "--data.init_args.n_val", "128",
         "--data.init_args.n_test", "128", "--trainer.log_every_n_steps", "2"]


def sweep(cluster, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lit_dl.cli", "sweep", *map(str, args)],
        cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=300,
    )


def compare_table(out: str) -> str:
    """The compare table a sweep ends with: one experiment's runs, titled with its name."""
    return out[re.search(r"^grid *$", out, re.MULTILINE).start() :]


def test_a_two_trial_sweep_runs_as_a_job_array_and_resumes_only_unfinished_trials(slurm_cluster, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"config: {REPO / 'experiments' / 'quickstart.yaml'}\nparameters:\n  {MAX_LR}: {{values: [0.01, oops]}}\n")
    root = tmp_path / "runs"

    # README, "SLURM": the sweep with one CPU per trial.
    first = sweep(slurm_cluster, grid, "--slurm=--ntasks 1 --cpus-per-task 1", "--max_concurrent", "2", "--root", root, "--", *SMALL)

    assert first.returncode == 1, first.stderr  # the second trial's value is a mistake
    record = root / "grid" / "sweep_0"
    job = json.loads((record / "sweep.json").read_text())["job"]
    assert f"submitted job array {job}: 2 trial(s)" in first.stdout
    assert slurm_cluster.job(f"{job}_0")["ArrayTaskThrottle"] == "2"
    trials = json.loads((record / "trials.json").read_text())
    assert [t["status"] for t in trials] == ["ok", "failed"]
    assert trials[0]["run_dir"] == str(root / "grid" / "version_0")
    assert "max_lr" in trials[1]["error"]
    table = compare_table(first.stdout)
    assert "version_0" in table and "val/loss" in table and "(best)" in table
    results = json.loads((root / "grid" / "version_0" / "results.json").read_text())
    assert results.get("status", "completed") == "completed" and "test/acc" in results["test"]

    collected = sweep(slurm_cluster, "--collect", record)
    assert collected.returncode == 1 and compare_table(collected.stdout) == table

    # Resuming runs the failed trial again, as a one-task array; the finished one is not rerun.
    resumed = sweep(slurm_cluster, "--resume", record)
    assert resumed.returncode == 1, resumed.stderr
    assert ": 1 trial(s)" in resumed.stdout
    assert sorted(p.name for p in (root / "grid").iterdir()) == ["sweep_0", "version_0"]
