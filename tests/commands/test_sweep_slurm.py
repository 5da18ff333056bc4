"""`lit-dl sweep --slurm`: the job array handed to sbatch (sbatch itself is faked here; the real
cluster runs in tests/cluster, pytest -m slurm)."""

from __future__ import annotations

import subprocess

import pytest

from lit_dl.commands.sweep import slurm


@pytest.mark.parametrize(("max_concurrent", "array"), [(None, "--array=0-3"), (2, "--array=0-3%2")])
def test_four_workers_are_array_tasks_0_to_3(max_concurrent, array, tmp_path, monkeypatch):
    commands = []

    def sbatch(command, **_):
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "4242;cluster\n", "")

    monkeypatch.setattr(slurm.subprocess, "run", sbatch)
    assert slurm.submit(tmp_path, "sweep", 4, "--time 10", max_concurrent) == "4242"
    (command,) = commands
    assert command[:4] == ["sbatch", "--parsable", array, "--job-name=sweep"] and command[-3:] == ["--time", "10", str(tmp_path / "array.sbatch")]
    assert (tmp_path / "array.sbatch").is_file()
