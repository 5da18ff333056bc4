"""scripts/slurm/ddp.sbatch on the private cluster, submitted as the README shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
SMALL = [
    "--trainer.max_epochs", "2",
    "--data.init_args.n_train", "512",
    "--data.init_args.n_val", "256",
    "--data.init_args.n_test", "256",
    "--trainer.log_every_n_steps", "2",
]
# README, "SLURM": the CPU submission.
CPU_SUBMISSION = ["--ntasks-per-node", "2", "--cpus-per-task", "1", "scripts/slurm/ddp.sbatch", "experiments/quickstart.yaml"]


def test_the_sbatch_template_trains_the_quickstart_with_two_ddp_ranks(slurm_cluster, tmp_path):
    log = tmp_path / "job.out"
    job = slurm_cluster.sbatch(f"--output={log}", *CPU_SUBMISSION, "--trainer.default_root_dir", tmp_path / "runs", *SMALL)

    state = slurm_cluster.wait(job, {"COMPLETED"}, timeout=240)

    output = log.read_text()
    assert state == "COMPLETED", output
    run_dir = tmp_path / "runs" / "quickstart" / "version_0"
    assert output.strip().splitlines()[-1] == str(run_dir)
    assert "1 node(s) x 2 task(s)" in output
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed"
    assert results["epochs"] == 2
    assert 0.0 <= results["test"]["test/acc"] <= 1.0
    assert {"best.ckpt", "last.ckpt"} <= {p.name for p in (run_dir / "checkpoints").iterdir()}
    assert sorted(p.name for p in (tmp_path / "runs" / "quickstart").iterdir()) == ["version_0"]
