"""What a process tells the processes after it about its run."""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.mark.parametrize(("env", "rank"), [
    ({}, 0), ({"RANK": "3", "LOCAL_RANK": "1"}, 3), ({"RANK": "0", "SLURM_PROCID": "5"}, 0), ({"LOCAL_RANK": "2"}, 2),
    ({"NODE_RANK": "1", "LOCAL_RANK": "0"}, 1), ({"LOCAL_RANK": "1", "NODE_RANK": "3"}, 3), ({"LOCAL_RANK": "0", "SLURM_PROCID": "4"}, 4),
    ({"SLURM_PROCID": "0"}, 0),
])
def test_the_rank_of_a_process_before_any_process_group(env, rank):
    from lit_dl.run.environment import process_rank

    assert process_rank(env) == rank


def test_other_ranks_inherit_rank_zeros_run_directory():
    env = {RUN_DIR_ENV: "/runs/x/version_2", "LOCAL_RANK": "1", "SLURM_RESTART_COUNT": "1"}
    read = Environment.read("validate", env=env)
    assert (read.rank, read.inherited_run_dir, read.slurm_job, read.slurm_restarted) == (1, Path("/runs/x/version_2"), None, True)
    assert Environment.read("fit", env={RUN_DIR_ENV: "/runs/x/version_2"}).inherited_run_dir is None  # rank zero decides itself
    assert Environment.read("fit", env={"LOCAL_RANK": "1"}).inherited_run_dir is None
    assert not Environment.read("fit", env={}).slurm_restarted


def test_outside_a_slurm_job_nothing_marks_the_run(tmp_path, monkeypatch):
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    share_run_dir(tmp_path / "not_yet", Environment(rank=0, slurm_job="77:abc"))  # not made yet: nothing to mark
    assert os.environ[RUN_DIR_ENV] == str(tmp_path / "not_yet") and not (tmp_path / "not_yet").exists()
    share_run_dir(tmp_path, Environment(rank=0))
    assert not RunPaths(tmp_path).slurm_job.exists()


def test_the_versions_and_commit_a_run_records(tmp_path):
    import platform
    import subprocess

    from lit_dl.run.environment import git_commit, package_versions

    versions = package_versions()
    assert versions["python"] == platform.python_version() and "torch" in versions and "lit-dl" in versions
    assert set(versions) <= {"python", "lit-dl", "torch", "lightning", "torchmetrics", "torchvision", "jsonargparse", "wandb"}
    assert git_commit(tmp_path) is None  # not a git repository
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert git_commit(tmp_path) == head
    (tmp_path / "untracked.txt").write_text("u")
    assert git_commit(tmp_path) == head  # untracked files do not make it dirty
    (tmp_path / "a.txt").write_text("changed")
    assert git_commit(tmp_path) == head + "-dirty"


def test_a_package_that_is_not_installed_is_left_out_of_the_versions(monkeypatch):
    import importlib.metadata

    from lit_dl.run.environment import package_versions

    def without_wandb(name):  # faked: wandb is an optional extra, installed here
        if name == "wandb":
            raise importlib.metadata.PackageNotFoundError(name)
        return "1.0"

    monkeypatch.setattr(importlib.metadata, "version", without_wandb)
    versions = package_versions()
    assert "wandb" not in versions and versions["torch"] == "1.0" and versions["lit-dl"] == "1.0"
