"""One writer per run: an `fcntl` lock on the run's `run.lock`, held while a fit writes the run.

The kernel releases the lock when its process ends, however it ends (a kill -9 included), so a
lock is never stale. The file holds the holder's pid, host and command, so a second writer is
told who has the run; a clean end removes it. Readers (`test`, `compare`, `check`) take no lock.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path

from lit_dl.errors import UserError
from lit_dl.run.layout import RunPaths


class RunLock:
    """`acquire()` or a UserError naming the process that holds the run; `release()` at the end."""

    def __init__(self, run_dir: Path) -> None:
        self.path = RunPaths(run_dir).lock
        self._file = None

    def __deepcopy__(self, memo: dict) -> RunLock:
        # The CLI is reachable from the model (LightningCLI's instantiators); a deep copy of the
        # model (weight averaging) shares the lock rather than copying an open file.
        return self

    def __getstate__(self) -> dict:
        return {"path": self.path, "_file": None}

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        while self._file is None:
            file = open(self.path, "a+b", buffering=0)
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.close()
                raise UserError(
                    f"{self.path.parent} is being written by {holder(self.path) or 'another process'}; "
                    "wait for it to finish (or stop it), or start a new run without --ckpt_path"
                ) from None
            if _same_file(file, self.path):
                self._file = file
            else:  # the holder removed it between our open and our lock: lock the new one
                file.close()
        command = " ".join(["lit-dl", *sys.argv[1:3]])
        about = f"pid {os.getpid()} on {socket.gethostname()} ({command}, since {time.strftime('%H:%M:%S')})\n"
        try:
            os.ftruncate(self._file.fileno(), 0)
            os.write(self._file.fileno(), about.encode())
        except OSError:
            pass  # a full disk: the lock holds all the same; a second writer just learns less

    def release(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            self.path.unlink(missing_ok=True)  # while locked: nobody can have locked it since
        except OSError:
            pass  # a read-only or vanished folder: the kernel still drops the lock below
        finally:
            file.close()


def holder(path: Path) -> str | None:
    """Who holds the lock at `path` (as it wrote itself down), None when nobody does."""
    try:
        with open(path) as file:
            try:
                fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return file.read().strip() or "another process"
            fcntl.flock(file, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


def _same_file(file, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(file.fileno()), os.stat(path))
    except OSError:
        return False
