"""`lit-dl sweep --slurm`: the sweep's workers as a job array of 2 tasks on the private cluster,
both taking trials from one Optuna study (its journal file), with median pruning."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from lit_dl.commands.sweep import study

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
MAX_LR = "model.init_args.scheduler.init_args.max_lr"
SMALL = ["--data.init_args.n_train", "256", "--data.init_args.n_val", "128",
         "--data.init_args.n_test", "128", "--trainer.log_every_n_steps", "2"]


def sweep(cluster, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lit_dl.cli", "sweep", *map(str, args)],
        cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=600,
    )


def compare_table(out: str) -> str:
    """The compare table a sweep ends with: one experiment's runs, titled with its name."""
    return out[re.search(r"^grid *$", out, re.MULTILINE).start() :]


def test_two_array_tasks_share_one_study_and_resume_runs_only_unfinished_trials(slurm_cluster, tmp_path):
    grid = tmp_path / "grid.yaml"
    # Three trials: max_epochs 0 parses but the fit refuses it, so that trial fails.
    grid.write_text(f"config: {REPO / 'experiments' / 'quickstart.yaml'}\nearly_terminate: {{type: median, min_iter: 1, startup: 1}}\n"
                    f"parameters:\n  {MAX_LR}: [0.01]\n  trainer.max_epochs: [2, 0, 3]\n")
    root = tmp_path / "runs"

    # README, "SLURM": the sweep with one CPU per trial, two workers.
    first = sweep(slurm_cluster, grid, "--slurm=--ntasks 1 --cpus-per-task 1", "--workers", "2", "--root", root, "--", *SMALL)

    assert first.returncode == 1, first.stdout + first.stderr  # the second trial's value is refused
    record = root / "grid" / "sweep_0"
    job = json.loads((record / "sweep.json").read_text())["job"]
    assert f"submitted job array {job}: 2 worker(s) for 3 trial(s)" in first.stdout
    trials = optuna.load_study(study_name="grid", storage=study.storage(record)).get_trials()
    assert [t.state.name for t in trials][1] == "FAIL" and {t.state.name for t in trials[::2]} <= {"COMPLETE", "PRUNED"}
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both array tasks took trials
    rows = json.loads((record / "trials.json").read_text())
    assert "max_epochs" in rows[1]["error"] and rows[1]["run_dir"] is None
    for row in rows[::2]:
        results = json.loads((Path(row["run_dir"]) / "results.json").read_text())
        assert results["status"] == row["status"] and row["status"] in ("completed", "pruned")
    assert sorted(p.name for p in record.glob("worker_*.log")) == ["worker_0.log", "worker_1.log"]
    table = compare_table(first.stdout)
    assert "val/loss" in table and "(best)" in table

    collected = sweep(slurm_cluster, "--collect", record)
    assert collected.returncode == 1 and compare_table(collected.stdout) == table

    # Resuming queues the failed trial again and runs it as a one-task array; the others are kept.
    resumed = sweep(slurm_cluster, "--resume", record)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert ": 1 worker(s) for 1 trial(s)" in resumed.stdout
    assert sorted(p.name for p in (root / "grid").glob("version_*")) == ["version_0", "version_1"]


def test_a_requeued_array_task_continues_its_trials_run(slurm_cluster, tmp_path):
    """SLURM's time-limit warning (SIGUSR1) stops the trial's fit, which requeues its array task;
    the requeued task's worker finds the trial its predecessor left and continues its run."""
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"config: {REPO / 'experiments' / 'quickstart.yaml'}\nparameters:\n  {MAX_LR}: [0.01]\n")
    root = tmp_path / "runs"
    longer = ["--trainer.max_epochs", "4", "--data.init_args.n_train", "3000", "--data.init_args.batch_size", "16",
              "--data.init_args.n_val", "128", "--test_after_fit", "false"]
    running = subprocess.Popen(
        [sys.executable, "-m", "lit_dl.cli", "sweep", str(grid), "--slurm=--ntasks 1 --cpus-per-task 1", "--root", str(root), "--", *longer],
        cwd=REPO, env=slurm_cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    run_dir, record = root / "grid" / "version_0", root / "grid" / "sweep_0"
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").is_file():  # the trial has trained an epoch
        assert time.monotonic() < deadline and running.poll() is None, running.stdout.read() if running.poll() is not None else ""
        time.sleep(0.5)
    job = optuna.load_study(study_name="grid", storage=study.storage(record)).user_attrs["sweep"]["job"]
    slurm_cluster.command("scancel", "--signal=USR1", f"{job}_0")
    slurm_cluster.wait(f"{job}_0", {"PENDING"}, timeout=120)
    slurm_cluster.wait(f"{job}_0", {"COMPLETED"}, timeout=600, release=True)
    out, _ = running.communicate(timeout=300)

    assert running.returncode == 0, out
    rows = json.loads((record / "trials.json").read_text())
    assert [(row["status"], row["attempts"], row["run_dir"]) for row in rows] == [("completed", 2, str(run_dir))]
    with open(run_dir / "metrics.csv") as file:
        validated = [int(row["epoch"]) for row in csv.DictReader(file) if row.get("val/loss")]
    assert validated == [0, 1, 2, 3]  # every epoch once, across the requeue
    assert sorted(p.name for p in (root / "grid").glob("version_*")) == ["version_0"]
