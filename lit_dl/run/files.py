"""Writing a run's files so that a kill or a full disk never leaves a half-written one."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, fsync it, then rename it into place.

    On any failure (a full disk, a read-only folder) the temporary file is removed and `path`
    keeps its old content."""
    partial = path.with_name(f"{path.name}.tmp-{os.getpid()}")
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
