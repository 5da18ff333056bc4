"""The one line a full, read-only or blocked filesystem gets."""

from __future__ import annotations

import errno
import os

import pytest

from lit_dl.run.files import filesystem_problem


def test_a_long_path_keeps_its_first_60_and_last_50_characters():
    path = "/scratch/" + "nested/" * 30 + "quickstart/version_12/checkpoints/last.ckpt.tmp-4242"
    line = filesystem_problem(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path))
    shown = line.removeprefix("cannot write ").split(": ")[0]
    assert shown == f"{path[:60]}...{path[-50:]}" and len(shown) == 113
    assert filesystem_problem(OSError(errno.ENOSPC, "full", "/runs/a")).startswith("cannot write /runs/a: ")


@pytest.mark.parametrize(("length", "shortened"), [(120, False), (121, True)])
def test_paths_up_to_120_characters_are_shown_whole_longer_ones_shortened(length, shortened):
    path = "/" + "a" * (length - 1)
    shown = filesystem_problem(OSError(errno.ENOSPC, "full", path)).removeprefix("cannot write ").split(": ")[0]
    assert shown == (f"{path[:60]}...{path[-50:]}" if shortened else path)


def test_each_filesystem_error_gets_its_fix_and_other_errors_none():
    assert filesystem_problem(OSError(errno.EROFS, "ro", "/runs/a")) == "cannot write /runs/a: the filesystem is read-only; set --trainer.default_root_dir to another folder"
    assert filesystem_problem(OSError(errno.EACCES, "denied")) == ("cannot write the run directory: permission denied; make it writable or set "
                                                                   "--trainer.default_root_dir to another folder")
    assert filesystem_problem(OSError(errno.ENAMETOOLONG, "long", "/x")) == "cannot write /x: the path is too long; use a shorter --name or --trainer.default_root_dir"
    assert filesystem_problem(OSError(errno.ENOENT, "missing", "/x")) is None and filesystem_problem(ValueError("x")) is None
    path = "/" + "a" * 119
    assert filesystem_problem(OSError(errno.ENOSPC, "full", path)) == f"cannot write {path}: no space left on the device; free some space or set --trainer.default_root_dir to another folder"


def test_writing_atomically_replaces_the_file_whole_and_write_once_keeps_the_first(tmp_path):
    from lit_dl.run.files import write_atomically, write_once

    path = tmp_path / "results.json"
    write_atomically(path, "first")
    write_atomically(path, "second")
    assert path.read_text() == "second" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
    assert write_once(path, "third") is False and path.read_text() == "second"
    assert write_once(tmp_path / "config.yaml", "a: 1\n") is True and (tmp_path / "config.yaml").read_text() == "a: 1\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    from lit_dl.run import files

    path = tmp_path / "results.json"
    path.write_text("old")

    def full(*args):
        raise OSError(errno.ENOSPC, "full")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError):
        files.write_atomically(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
