"""A checkpoint saved onto a full disk: one clear OSError (torch's zip writer says only
'unexpected pos'), the previous checkpoint intact, no temporary file left. A real tmpfs."""

from __future__ import annotations

import errno
import io
from types import SimpleNamespace

import pytest
import torch

from lit_dl.training import checkpoint_io
from lit_dl.training.checkpoint_io import AtomicCheckpointIO
from tests.helpers.filesystems import fill, full_tmpfs


def test_a_checkpoint_on_a_full_disk_fails_cleanly(tmp_path):
    io = AtomicCheckpointIO()
    with full_tmpfs(tmp_path / "disk", size="1m", leave=None) as disk:
        target = disk / "last.ckpt"
        io.save_checkpoint({"state_dict": {"w": torch.zeros(10)}}, target)
        before = target.read_bytes()
        fill(disk, leave=8_000)
        with pytest.raises(OSError) as raised:
            io.save_checkpoint({"state_dict": {"w": torch.zeros(100_000)}}, target)
        assert raised.value.errno == errno.ENOSPC
        assert raised.value.filename == str(target)
        assert target.read_bytes() == before
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "last.ckpt"]


@pytest.mark.parametrize(("free", "full"), [(768 << 10, True), (3 << 19, False)])
def test_a_save_error_counts_as_a_full_disk_under_one_mebibyte_free(free, full, tmp_path, monkeypatch):
    """torch's zip writer fails with a RuntimeError wherever the disk filled up; with under 1 MiB
    left the error is taken as ENOSPC, with more it is raised as it came."""
    def save(*_):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(checkpoint_io.torch, "save", save)
    monkeypatch.setattr(checkpoint_io.shutil, "disk_usage", lambda path: SimpleNamespace(free=free))
    with pytest.raises(OSError if full else RuntimeError) as raised:
        checkpoint_io._save_or_report_full_disk({}, io.BytesIO(), tmp_path / "last.ckpt")
    assert (getattr(raised.value, "errno", None) == errno.ENOSPC) is full
