"""The run lock: one writer per run, and a lock whose file its holder removed is not a lock."""

from __future__ import annotations

import fcntl
import os

from lit_dl.run import lock as run_lock


def test_a_lock_file_removed_by_its_holder_between_open_and_lock_is_replaced(tmp_path, monkeypatch):
    """The holder's release (unlink, then unlock) can fall between our open and our flock: we then
    hold a lock on a file nobody else can find. The window is too short to hit on purpose, so the
    holder's unlink is made to happen inside our first flock."""
    real_flock, calls = fcntl.flock, []

    def flock_after_the_holder_released(file, operation):
        if not calls:
            (tmp_path / "run.lock").unlink()
        calls.append(operation)
        return real_flock(file, operation)

    (tmp_path / "run.lock").write_text("pid 1 on elsewhere (lit-dl fit)\n")
    monkeypatch.setattr(run_lock.fcntl, "flock", flock_after_the_holder_released)
    lock = run_lock.RunLock(tmp_path)
    lock.acquire()
    monkeypatch.undo()
    try:
        assert len(calls) == 2 and lock.held
        assert run_lock.holder(tmp_path / "run.lock").startswith(f"pid {os.getpid()} ")  # the file on disk is the one we locked
    finally:
        lock.release()
    assert not (tmp_path / "run.lock").exists()
