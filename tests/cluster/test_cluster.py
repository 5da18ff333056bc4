"""The private cluster itself: a job array and a two-task step run."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slurm


def test_the_private_cluster_runs_two_tasks(slurm_cluster, tmp_path):
    done = slurm_cluster.command("srun", "--ntasks", "2", "--cpus-per-task", "1", "bash", "-c", "echo $SLURM_PROCID", timeout=60)

    assert sorted(done.stdout.split()) == ["0", "1"]
