"""Writing a run's files so that a kill or a full disk never leaves a half-written one."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from lit_dl.run.layout import temporary_path


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, fsync it, then rename it into place.

    On any failure (a full disk, a read-only folder) the temporary file is removed and `path`
    keeps its old content."""
    partial = temporary_path(path)
    try:
        with open(partial, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        try:
            partial.unlink()
        except OSError:
            pass


def write_once(path: Path, text: str) -> bool:
    """Write `path` atomically unless it exists; True if this call wrote it."""
    if path.exists():
        return False
    write_atomically(path, text)
    return True


# What a filesystem says when a run cannot be written, and what the user can do about it.
_WHERE = "or set --trainer.default_root_dir to another folder"
FILESYSTEM_FIXES = {
    errno.ENOSPC: f"no space left on the device; free some space {_WHERE}",
    errno.EDQUOT: f"the disk quota is exceeded; free some space {_WHERE}",
    errno.EROFS: f"the filesystem is read-only; {_WHERE.removeprefix('or ')}",
    errno.EACCES: f"permission denied; make it writable {_WHERE}",
    errno.EPERM: f"operation not permitted; make it writable {_WHERE}",
    errno.ENOTDIR: f"a file is in the way of a folder on that path; move the file away {_WHERE}",
    errno.EEXIST: f"a file is in the way of a folder on that path; move the file away {_WHERE}",
    errno.ENAMETOOLONG: "the path is too long; use a shorter --name or --trainer.default_root_dir",
}


def filesystem_problem(error: BaseException) -> str | None:
    """One line for an OSError a full, read-only or blocked filesystem raised; None otherwise."""
    if not isinstance(error, OSError) or error.errno not in FILESYSTEM_FIXES:
        return None
    path = str(error.filename) if error.filename else "the run directory"
    if len(path) > 120:
        path = f"{path[:60]}...{path[-50:]}"
    return f"cannot write {path}: {FILESYSTEM_FIXES[error.errno]}"
