"""Real filesystem faults for tests: a small tmpfs filled to the last block, a read-only bind
mount. They need root and `mount`; where mounting is not allowed the test is skipped."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def mount(*args: str) -> Callable[[], None]:
    """`mount ARGS...`; returns the matching unmount. Skips the test where mounting fails."""
    try:
        done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot mount here: {error}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    target = args[-1]
    return lambda: subprocess.run(["umount", "-l", target], capture_output=True, timeout=10)


def fill(directory: Path, leave: int = 0) -> None:
    """Fill the filesystem of `directory` to the last block (a file named `filler`), then free
    `leave` bytes."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as file, contextlib.suppress(OSError):
        while True:
            file.write(b"\0" * 4096)
    if leave:
        with open(filler, "r+b") as file:
            file.truncate(max(filler.stat().st_size - leave, 0))


@contextlib.contextmanager
def full_tmpfs(directory: Path, size: str = "1m", leave: int = 0) -> Iterator[Path]:
    """`directory` as a tmpfs of `size`, filled up to `leave` free bytes by the time the body runs
    (fill it yourself after copying files in, with `fill`, if `leave` is None)."""
    directory.mkdir(parents=True, exist_ok=True)
    unmount = mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory))
    try:
        if leave is not None:
            fill(directory, leave)
        yield directory
    finally:
        unmount()


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """`directory` bind-mounted read-only onto itself."""
    unmount = mount("--bind", str(directory), str(directory))
    try:
        mount("-o", "remount,ro,bind", str(directory))  # the same mount: one unmount undoes both
        yield directory
    finally:
        unmount()
