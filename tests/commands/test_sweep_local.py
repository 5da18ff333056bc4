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
