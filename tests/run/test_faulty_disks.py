"""A run's files on a full disk, a read-only mount, with a file in the way: the write fails with
a one-line reason, the old content stays, and no temporary file is left. Real faults: a tmpfs
filled to the last block and a read-only bind mount (skipped where mounting is not allowed)."""

from __future__ import annotations

import errno

import pytest

from lit_dl.run.files import filesystem_problem, write_atomically
from lit_dl.run.results import read_results, update_results
from tests.helpers.filesystems import fill, full_tmpfs, read_only


def test_a_full_disk_keeps_the_old_results_and_leaves_no_temporary_file(tmp_path):
    with full_tmpfs(tmp_path / "disk", size="64k", leave=None) as disk:
        update_results(disk, status="running", seed=1)
        before = (disk / "results.json").read_bytes()
        fill(disk)
        with pytest.raises(OSError) as raised:
            update_results(disk, status="completed", val={"val/loss": 0.5}, notes="x" * 100_000)
        assert raised.value.errno == errno.ENOSPC
        assert (disk / "results.json").read_bytes() == before
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "results.json"]
        assert filesystem_problem(raised.value).startswith("cannot write ")
        assert "no space left" in filesystem_problem(raised.value)


def test_a_read_only_root_says_so(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "results.json").write_text('{"status": "completed"}\n')
    with read_only(tmp_path / "root") as root:
        with pytest.raises(OSError) as raised:
            write_atomically(root / "results.json", "{}\n")
        assert "read-only" in filesystem_problem(raised.value)
        assert read_results(root) == {"status": "completed"}
        assert [p.name for p in root.iterdir()] == ["results.json"]


def test_a_file_in_the_way_and_an_over_long_name_are_explained(tmp_path):
    (tmp_path / "runs").write_text("a file, not a folder\n")
    with pytest.raises(OSError) as in_the_way:
        (tmp_path / "runs" / "quickstart").mkdir(parents=True)
    assert "a file is in the way" in filesystem_problem(in_the_way.value)
    with pytest.raises(OSError) as too_long:
        (tmp_path / ("x" * 300)).mkdir()
    assert "too long" in filesystem_problem(too_long.value)
    assert len(filesystem_problem(too_long.value)) < 300


def test_other_errors_are_not_filesystem_problems():
    assert filesystem_problem(OSError(errno.ECONNRESET, "reset")) is None
    assert filesystem_problem(ValueError("x")) is None
