"""The one line a full, read-only or blocked filesystem gets."""

from __future__ import annotations

import errno
import os

from lit_dl.run.files import filesystem_problem


def test_a_long_path_keeps_its_first_60_and_last_50_characters():
    path = "/scratch/" + "nested/" * 30 + "quickstart/version_12/checkpoints/last.ckpt.tmp-4242"
    line = filesystem_problem(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path))
    shown = line.removeprefix("cannot write ").split(": ")[0]
    assert shown == f"{path[:60]}...{path[-50:]}" and len(shown) == 113
    assert filesystem_problem(OSError(errno.ENOSPC, "full", "/runs/a")).startswith("cannot write /runs/a: ")
