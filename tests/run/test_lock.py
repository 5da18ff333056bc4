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


def test_a_second_writer_is_told_who_holds_the_run_and_the_lock_goes_with_its_release(tmp_path, monkeypatch):
    import copy
    import pickle
    import socket

    import pytest

    from lit_dl.errors import UserError

    monkeypatch.setattr(run_lock.sys, "argv", ["lit-dl", "fit", "--config", "x.yaml"])
    first, second = run_lock.RunLock(tmp_path), run_lock.RunLock(tmp_path)
    assert not first.held and run_lock.holder(first.path) is None
    first.acquire()
    first.acquire()  # held already: nothing more to do
    assert first.held
    said = (tmp_path / "run.lock").read_text()
    assert said.startswith(f"pid {os.getpid()} on {socket.gethostname()} (lit-dl fit --config, since ") and said.endswith(")\n")
    child = os.fork()  # flock locks are per open file: another process asks
    if child == 0:
        os._exit(0 if run_lock.holder(first.path) == said.strip() else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    with pytest.raises(UserError) as raised:
        second.acquire()
    assert str(raised.value) == (f"{tmp_path} is being written by {said.strip()}; wait for it to finish (or stop it), or start a new run "
                                 "without --ckpt_path")
    assert copy.deepcopy(first) is first and pickle.loads(pickle.dumps(first)).held is False
    first.release()
    first.release()
    assert not first.held and not (tmp_path / "run.lock").exists()
    second.acquire()
    assert second.held
    second.release()


def test_an_empty_lock_file_held_by_someone_is_another_process(tmp_path):
    path = tmp_path / "run.lock"
    path.write_text("")
    with open(path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        child = os.fork()
        if child == 0:
            os._exit(0 if run_lock.holder(path) == "another process" else 1)
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    assert run_lock.holder(path) is None and run_lock.holder(tmp_path / "absent") is None


def test_a_full_disk_leaves_the_lock_held_and_a_second_writer_learns_less(tmp_path, monkeypatch):
    import errno

    import pytest

    from lit_dl.errors import UserError

    def full_disk(fd, data):  # faked: filling a real disk is tests/run/test_faulty_disks.py's (tmpfs, where it may mount)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_lock.os, "write", full_disk)
    lock = run_lock.RunLock(tmp_path)
    lock.acquire()
    monkeypatch.undo()
    try:
        assert lock.held and (tmp_path / "run.lock").read_text() == ""
        with pytest.raises(UserError, match="is being written by another process; "):
            run_lock.RunLock(tmp_path).acquire()  # flock locks are per open file: a second one in this process is refused too
    finally:
        lock.release()


def test_a_release_in_a_read_only_folder_still_unlocks(tmp_path, monkeypatch):
    from pathlib import Path

    def read_only(path, missing_ok=False):  # faked: a chmod-ed folder stops no root user (the tests often run as root)
        raise PermissionError(13, "Read-only file system", str(path))

    lock = run_lock.RunLock(tmp_path)
    lock.acquire()
    monkeypatch.setattr(Path, "unlink", read_only)
    lock.release()
    monkeypatch.undo()
    assert not lock.held and (tmp_path / "run.lock").exists()  # the file stays; the kernel dropped the lock
    assert run_lock.holder(tmp_path / "run.lock") is None
    again = run_lock.RunLock(tmp_path)
    again.acquire()
    assert again.held
    again.release()
