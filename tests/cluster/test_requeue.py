"""Requeue on the private cluster: a DDP run stopped three times ends as one complete run.

Each stop is what a user or SLURM does: `scancel --signal=USR1 JOBID` (the time-limit warning;
lit-dl saves last.ckpt and requeues the job itself) or `scontrol requeue JOBID` (SIGTERM to
every rank). Each must stop within seconds, without SLURM killing a hung rank after KillWait.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 6
LONGER = [
    "--trainer.max_epochs", str(EPOCHS),
    "--data.init_args.n_train", "4000",
    "--data.init_args.batch_size", "16",
    "--data.init_args.n_val", "256",
    "--data.init_args.n_test", "256",
    "--trainer.log_every_n_steps", "5",
]
CPU_SUBMISSION = ["--ntasks-per-node", "2", "--cpus-per-task", "1", "scripts/slurm/ddp.sbatch", "experiments/quickstart.yaml"]
STOPS = (["scancel", "--signal=USR1"], ["scontrol", "requeue"], ["scancel", "--signal=USR1"])
STOP_WITHIN_S = 15  # KillWait is 30 s: a hung rank would take that long and be killed


def check_runs(run_dirs):
    from lit_dl.cli.run_check import check_runs

    return check_runs(run_dirs)


def epochs_logged(log: Path) -> int:
    return sum(line.startswith("epoch ") for line in log.read_text(errors="replace").splitlines()) if log.exists() else 0


def results_when(run_dir: Path, status: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            results = json.loads((run_dir / "results.json").read_text())
        except (OSError, ValueError):
            results = {}
        if results.get("status") == status:
            return results
        time.sleep(0.2)
    raise AssertionError(f"results.json of {run_dir} not {status} after {timeout} s: {results}")


def test_three_requeues_stop_within_seconds_and_the_run_completes_every_epoch_once(slurm_cluster, tmp_path):
    log, root = tmp_path / "job.out", tmp_path / "runs"
    job = slurm_cluster.sbatch(f"--output={log}", *CPU_SUBMISSION, "--trainer.default_root_dir", root, *LONGER)
    run_dir = root / "quickstart" / "version_0"
    stop_seconds, wall_times = [], []
    for restart, stop in enumerate(STOPS):
        slurm_cluster.wait(job, {"RUNNING"}, timeout=180, release=True)
        started = epochs_logged(log)
        deadline = time.monotonic() + 180
        while epochs_logged(log) == started:  # training, past the start-up of this segment
            assert time.monotonic() < deadline and slurm_cluster.state(job) == "RUNNING", log.read_text()
            time.sleep(0.2)
        signalled = time.monotonic()
        slurm_cluster.command(*stop, job)
        results = results_when(run_dir, "interrupted", timeout=60)  # rank zero's last write as it stops
        stop_seconds.append(round(time.monotonic() - signalled, 1))
        wall_times.append(results["wall_time_s"])
        slurm_cluster.wait(job, {"PENDING"}, timeout=60)
        assert int(slurm_cluster.job(job)["Restarts"]) == restart + 1, log.read_text()
        assert check_runs([run_dir]) == {run_dir: []}  # whole at every requeue, as `lit-dl check` sees it

    state = slurm_cluster.wait(job, {"COMPLETED"}, timeout=300, release=True)

    output = log.read_text()
    print("seconds from signal to stopped:", stop_seconds)
    assert state == "COMPLETED", output
    assert output.count("lit-dl: stopped by") == len(STOPS), output
    assert "Killed" not in output and "KILLED" not in output, output  # no rank outlived KillWait
    assert max(stop_seconds) < STOP_WITHIN_S, (stop_seconds, output)
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["version_0"]
    assert output.strip().splitlines()[-1] == str(run_dir)
    with open(run_dir / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    validated = [int(row["epoch"]) for row in rows if row.get("val/loss")]
    assert validated == list(range(EPOCHS))  # no epoch missing, none repeated
    steps = [int(row["step"]) for row in rows if row.get("train/loss")]
    assert steps == sorted(set(steps))  # no training step logged twice
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed" and results["epochs"] == EPOCHS
    assert "test/acc" in results["test"]
    # wall_time_s counts every segment: it grows from stop to stop.
    assert wall_times == sorted(wall_times) and wall_times[0] > 0 and results["wall_time_s"] > wall_times[-1]
    assert not list((run_dir / "checkpoints").glob("hpc_ckpt_*"))
