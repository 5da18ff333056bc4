"""`lit-dl sweep --slurm`: the job array handed to sbatch (sbatch itself is faked here; the real
cluster runs in tests/cluster, pytest -m slurm)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from lit_dl.commands.sweep import slurm


def squeue_answer(command, returncode, stdout, stderr="", text=False, **_):
    """What subprocess.run gives back for squeue: bytes unless asked for text, as the real one."""
    if not text:
        stdout, stderr = stdout.encode(), stderr.encode()
    return subprocess.CompletedProcess(command, returncode, stdout, stderr)


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


def test_the_array_script_runs_a_worker_a_task_requeued_on_the_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(slurm.subprocess, "run", lambda command, **_: subprocess.CompletedProcess(command, 0, "17\n", ""))
    assert slurm.submit(tmp_path, "my sweep", 2, "", None) == "17"
    script = (tmp_path / "array.sbatch").read_text()
    assert script.startswith("#!/bin/bash\n# lit-dl sweep my sweep: each array task is a worker")
    assert "#SBATCH --requeue\n#SBATCH --signal=USR1@90\n" in script
    assert f"-m lit_dl.commands.sweep {tmp_path.resolve()} --seed_offset \"$SLURM_ARRAY_TASK_ID\"" in script


@pytest.mark.parametrize(("done", "said"), [
    (subprocess.CompletedProcess([], 1, "", "sbatch: error: first\nsbatch: error: Invalid partition\n"),
     "sbatch refused the sweep's job array: sbatch: error: Invalid partition; check the flags given to --slurm"),
    (subprocess.CompletedProcess([], 3, "", ""), "sbatch refused the sweep's job array: exit code 3; check the flags given to --slurm"),
    (FileNotFoundError(), "sbatch not found: --slurm submits the workers with SLURM's sbatch; run it on a SLURM login node"),
])
def test_a_refused_or_missing_sbatch_is_one_line(done, said, tmp_path, monkeypatch):
    from lit_dl.errors import UserError

    def sbatch(command, **_):
        if isinstance(done, Exception):
            raise done
        return done

    monkeypatch.setattr(slurm.subprocess, "run", sbatch)
    with pytest.raises(UserError) as raised:
        slurm.submit(tmp_path, "s", 1, "--partition nope", None)
    assert str(raised.value) == said


def test_an_array_runs_while_squeue_lists_any_of_its_tasks(monkeypatch):
    answers = {"1": (0, "1_0\n"), "2": (0, "\n"), "3": (1, "")}
    monkeypatch.setattr(slurm.subprocess, "run", lambda command, **kwargs: squeue_answer(command, *answers[command[3]], **kwargs))
    assert slurm.running("1") and not slurm.running("2") and not slurm.running("3") and not slurm.running(None)

    def missing(command, **_):
        raise FileNotFoundError

    monkeypatch.setattr(slurm.subprocess, "run", missing)
    assert not slurm.running("1")


def test_the_wait_ends_when_squeue_lists_nothing_and_outlasts_a_busy_controller(monkeypatch):
    answers = [(0, "5_0\n5_1\n", ""), (1, "", "slurm_load_jobs error: Socket timed out"), (0, "5_1\n", ""), (1, "", "Invalid job id specified"), ]
    asked = []
    monkeypatch.setattr(slurm.subprocess, "run", lambda command, **kwargs: asked.append(command) or squeue_answer(command, *answers[len(asked) - 1], **kwargs))
    monkeypatch.setattr(slurm.time, "sleep", lambda seconds: None)
    slurm.wait("5")
    assert len(asked) == 4 and asked[0] == ["squeue", "-h", "-j", "5", "-o", "%i"]


def test_the_wait_reads_what_a_real_squeue_executable_prints(tmp_path, monkeypatch):
    # Faked: a stand-in squeue script first on PATH (the real SLURM cluster runs in the -m slurm
    # tests); unlike a faked subprocess.run, its output reaches wait only if wait captures it.
    # It lists the array's task on its first call and nothing on its second.
    squeue = tmp_path / "squeue"
    squeue.write_text('#!/bin/sh\necho "$@" >> "$0.calls"\n'
                      '[ "$(wc -l < "$0.calls")" -eq 1 ] && echo 7_0\nexit 0\n')
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    slurm.wait("7", poll_seconds=0)
    assert (tmp_path / "squeue.calls").read_text().splitlines() == ["-h -j 7 -o %i"] * 2


def test_the_wait_gives_up_after_squeue_failed_so_many_times_in_a_row(monkeypatch):
    from lit_dl.errors import UserError

    asked = []
    monkeypatch.setattr(slurm.subprocess, "run", lambda command, **kwargs: asked.append(1) or squeue_answer(command, 1, "", "busy\nController down\n", **kwargs))
    monkeypatch.setattr(slurm.time, "sleep", lambda seconds: None)
    with pytest.raises(UserError) as raised:
        slurm.wait("5", patience=3)
    assert len(asked) == 3
    assert str(raised.value) == ("squeue keeps failing (Controller down); the job array 5 may still run: collect its results later with "
                                 "lit-dl sweep --collect SWEEP_DIR")
