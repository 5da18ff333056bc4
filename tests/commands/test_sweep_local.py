"""`lit-dl sweep --workers N`: N worker processes on this machine (started as stand-ins here; the
real ones run in the slow sweep tests)."""

from __future__ import annotations

import sys

import pytest

from lit_dl.commands.sweep import local


class Worker:
    started: list[list[str]] = []
    code = 0

    def __init__(self, command: list[str]) -> None:
        Worker.started.append(command)

    def wait(self) -> int:
        return Worker.code


@pytest.fixture
def workers(monkeypatch):
    Worker.started, Worker.code = [], 0
    monkeypatch.setattr(local.subprocess, "Popen", Worker)
    return Worker


def test_each_worker_gets_its_seed_offset_and_a_label_counted_from_one(workers, tmp_path):
    local.run_workers(tmp_path, 3)
    assert workers.started == [[sys.executable, "-m", "lit_dl.commands.sweep", str(tmp_path), "--seed_offset", str(i), "--label", f"worker {i + 1}"]
                               for i in range(3)]


def test_a_worker_stopped_by_a_signal_stops_the_sweep_with_130(workers, tmp_path, capsys):
    workers.code = 130
    with pytest.raises(SystemExit) as raised:
        local.run_workers(tmp_path, 2)
    assert raised.value.code == 130 and f"lit-dl sweep --resume {tmp_path}" in capsys.readouterr().out


def test_a_ctrl_c_waits_for_every_worker_to_queue_its_trial_again_then_stops_with_130(workers, tmp_path, capsys, monkeypatch):
    """The Ctrl-C reaches the workers too (one process group): the sweep waits for each, then says how to resume."""
    waits = []

    def interrupted_once(worker) -> int:
        waits.append(worker)
        if len(waits) == 1:
            raise KeyboardInterrupt
        return 130

    monkeypatch.setattr(workers, "wait", interrupted_once)
    with pytest.raises(SystemExit) as raised:
        local.run_workers(tmp_path, 2)
    assert raised.value.code == 130 and len(waits) == 3  # the interrupted wait, then one for each worker
    assert capsys.readouterr().out == f"\nsweep stopped; continue it with: lit-dl sweep --resume {tmp_path}\n"


def test_one_worker_runs_in_this_process_and_a_ctrl_c_stops_the_sweep_with_130(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(local.worker, "work", lambda record: ran.append(record))
    local.run_workers(tmp_path, 1)
    assert ran == [tmp_path] and capsys.readouterr().out == ""

    def stopped(record):
        raise KeyboardInterrupt

    monkeypatch.setattr(local.worker, "work", stopped)
    with pytest.raises(SystemExit) as raised:
        local.run_workers(tmp_path, 1)
    assert raised.value.code == 130 and capsys.readouterr().out == f"\nsweep stopped; continue it with: lit-dl sweep --resume {tmp_path}\n"
