"""A checkpoint saved onto a full disk: one clear OSError (torch's zip writer says only
'unexpected pos'), the previous checkpoint intact, no temporary file left. A real tmpfs."""

from __future__ import annotations

import errno

import pytest
import torch

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
