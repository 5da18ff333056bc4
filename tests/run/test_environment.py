"""What a process tells the processes after it about its run."""

from __future__ import annotations

import os

import pytest

from lit_dl.run.environment import RUN_DIR_ENV, Environment, share_run_dir
from lit_dl.run.layout import RunPaths


@pytest.mark.parametrize(("rank", "shares"), [(0, True), (1, False), (3, False)])
def test_only_rank_zero_names_the_run_for_its_ranks_and_its_requeued_job(rank, shares, tmp_path, monkeypatch):
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    run_dir = tmp_path / "quickstart" / "version_0"
    run_dir.mkdir(parents=True)
    share_run_dir(run_dir, Environment(rank=rank, slurm_job="77:abc"))
    assert (os.environ.get(RUN_DIR_ENV) == str(run_dir)) is shares
    assert RunPaths(run_dir).slurm_job.is_file() is shares


def test_a_fit_in_a_slurm_job_is_known_by_its_job_and_config():
    """The key a requeued job finds its run by; for fit only. The command comes from the command
    line, a string that is equal to the literal "fit" but not the same object."""
    command = "".join(["f", "it"])
    env = {"SLURM_JOB_ID": "77"}
    assert Environment.read(command, "a: 1\n", env).slurm_job.startswith("77:")
    assert Environment.read("test", "a: 1\n", env).slurm_job is None
