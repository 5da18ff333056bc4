"""`lit-dl sweep --slurm`: the job array handed to sbatch (sbatch itself is faked here; the real
cluster runs in tests/cluster, pytest -m slurm)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

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


def slurm_record(tmp_path, pending: int, done: int = 0) -> Path:
    """A sweep record whose study holds `pending` queued trials and `done` finished ones."""
    from lit_dl.commands.sweep import study

    record = tmp_path / "sweep_0"
    record.mkdir()
    settings = {"name": "lr", "metric": {"name": "val/loss", "goal": "minimize"}, "slurm": "--time 10", "job": "41", "workers": None}
    created = study.create(record, settings, [{}] * (pending + done))
    for _ in range(done):
        trial = created.ask()
        created.tell(trial, 0.5)
    return record


@pytest.mark.parametrize(("pending", "workers", "tasks"), [(3, None, 3), (3, 2, 2), (2, 5, 2)])
def test_the_array_gets_a_worker_a_queued_trial_at_most_the_workers_asked_for(pending, workers, tasks, tmp_path, monkeypatch, capsys):
    from lit_dl.commands import sweep

    record = slurm_record(tmp_path, pending, done=1)
    submitted = []
    monkeypatch.setattr(slurm, "submit", lambda record, name, tasks, flags, most: submitted.append((name, tasks, flags, most)) or "4242")
    args = SimpleNamespace(slurm=None, workers=workers, max_concurrent=3, wait=False)
    assert sweep._execute(record, args) is False  # submitted, not waited for
    assert submitted == [("lr", tasks, "--time 10", 3)]
    out = capsys.readouterr().out
    assert out == (f"submitted job array 4242: {tasks} worker(s) for {pending} trial(s); logs in {record}\n"
                   f"job array 4242 keeps running; when it is done: lit-dl sweep --collect {record}\n")
    from lit_dl.commands.sweep import study

    assert study.load(record)[1]["job"] == "4242"


def test_with_no_trial_queued_the_array_already_submitted_is_waited_for(tmp_path, monkeypatch, capsys):
    from lit_dl.commands import sweep

    record = slurm_record(tmp_path, pending=0, done=2)
    waited = []
    monkeypatch.setattr(slurm, "submit", lambda *args: pytest.fail("nothing to submit"))
    monkeypatch.setattr(slurm, "wait", waited.append)
    assert sweep._execute(record, SimpleNamespace(slurm=None, workers=None, max_concurrent=None, wait=True)) is True
    assert waited == ["41"] and capsys.readouterr().out == ""
