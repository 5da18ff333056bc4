"""Checkpoint files without a fit: the atomic write, and the one-line reasons a checkpoint is refused
(tests/cli/test_bad_inputs.py passes such files to the commands)."""

from __future__ import annotations

import pytest
import torch

from lit_dl.errors import UserError
from lit_dl.training import checkpoint_io
from lit_dl.training.checkpoint_io import AtomicCheckpointIO, check_checkpoint, check_readable, unreadable_checkpoint_message


def test_a_save_replaces_the_target_through_a_temporary_file_beside_it(tmp_path):
    target = tmp_path / "exp" / "version_0" / "checkpoints" / "last.ckpt"
    target.parent.mkdir(parents=True)
    stale = target.parent / f"last.ckpt.tmp-{999999}"
    stale.write_bytes(b"a killed save")
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(2)}, "global_step": 3}, target)
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]  # the stale temporary file is gone, no new one left
    assert torch.load(target, weights_only=True)["global_step"] == 3
    with pytest.raises(TypeError, match="AtomicCheckpointIO takes no storage_options"):
        AtomicCheckpointIO().save_checkpoint({}, target, storage_options={"x": 1})


def test_a_directory_that_cannot_be_opened_or_synced_still_gets_its_checkpoint(tmp_path, monkeypatch):
    """Not every OS or filesystem lets a directory be opened or fsync-ed (faked here: Linux allows both)."""
    import os
    import stat

    real_fsync = os.fsync

    def fsync_files_only(descriptor):
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):
            raise OSError(22, "Invalid argument")
        real_fsync(descriptor)

    def no_directory_open(path, flags, *args):
        raise PermissionError(13, "Permission denied", str(path))

    target = tmp_path / "last.ckpt"
    for name, fake in (("fsync", fsync_files_only), ("open", no_directory_open)):
        monkeypatch.setattr(checkpoint_io.os, name, fake)
        AtomicCheckpointIO().save_checkpoint({"global_step": len(name)}, target)
        monkeypatch.undo()
        assert torch.load(target, weights_only=True)["global_step"] == len(name)
        assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_remote_checkpoint_is_saved_by_lightnings_own_writer():
    import fsspec

    target = "memory://lit-dl-test/checkpoints/last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 5}, target)
    with fsspec.open(target, "rb") as file:
        assert torch.load(file, weights_only=True)["global_step"] == 5
    fsspec.filesystem("memory").rm("/lit-dl-test", recursive=True)


def test_a_missing_or_broken_checkpoint_is_one_line(tmp_path):
    io = AtomicCheckpointIO()
    with pytest.raises(UserError) as raised:
        io.load_checkpoint(tmp_path / "nope.ckpt")
    assert str(raised.value) == f"checkpoint not found: {tmp_path / 'nope.ckpt'}; pass an existing file, or 'last' or 'best'"
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"cannot be read: it is truncated or not a PyTorch checkpoint \("):
        io.load_checkpoint(broken)
    with pytest.raises(UserError, match=r"^checkpoint .*broken.ckpt cannot be read"):
        check_readable(broken)
    with pytest.raises(UserError, match="cannot be read"):
        check_checkpoint(broken, torch.nn.Linear(1, 1))


@pytest.mark.parametrize(("error", "reason"), [(RuntimeError("PytorchStreamReader failed\nmore"), "PytorchStreamReader failed"),
                                               (EOFError(), "EOFError"), (ValueError("x" * 81), "ValueError"),
                                               (RuntimeError("Weights only load failed"), "RuntimeError"),
                                               (RuntimeError("x" * 80), "x" * 80)])
def test_the_reason_a_checkpoint_cannot_be_read_is_short(error, reason):
    assert unreadable_checkpoint_message("a.ckpt", error) == (
        f"checkpoint a.ckpt cannot be read: it is truncated or not a PyTorch checkpoint ({reason}); "
        "pass another one (each run keeps best.ckpt and last.ckpt in its checkpoints/ folder)")


def test_a_checkpoint_of_another_architecture_names_what_differs(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    path = tmp_path / "a.ckpt"
    torch.save({"state_dict": dict(model.state_dict())}, path)
    check_checkpoint(path, model)  # fits: nothing to say
    check_checkpoint(tmp_path / "absent.ckpt", model)  # not a file: Lightning's loader reports on it

    other = {"0.weight": torch.zeros(4, 2), "0.bias": torch.zeros(4), "2.weight": torch.zeros(1, 4), "2.bias": torch.zeros(1)}
    torch.save({"state_dict": other}, path)
    with pytest.raises(UserError) as raised:
        check_checkpoint(path, model)
    assert str(raised.value) == (f"checkpoint {path} was saved from another architecture (2 missing: 1.weight, 1.bias; 2 unexpected: 2.weight, "
                                 "2.bias; 2 shape (checkpoint vs model): 0.weight [4, 2] vs [3, 2], 0.bias [4] vs [3]); use the config it "
                                 "was trained with")
    wide = torch.nn.Sequential(*(torch.nn.Linear(1, 1) for _ in range(2)))
    torch.save({"state_dict": {f"{i}.weight": torch.zeros(1, 1) for i in range(5, 9)}}, path)
    with pytest.raises(UserError, match=r"\(4 missing: 0.weight, 0.bias, 1.weight, \.\.\.; 4 unexpected: 5.weight, 6.weight, 7.weight, \.\.\.\)"):
        check_checkpoint(path, wide)

    torch.save({"weights": 1}, path)
    with pytest.raises(UserError, match="is not a Lightning checkpoint \\(it has no state_dict\\); pass a .ckpt that lit-dl wrote"):
        check_checkpoint(path, model)


def test_a_runs_checkpoint_of_another_architecture_names_the_runs_config(tmp_path):
    run = tmp_path / "exp" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("model: {}\n")
    path = run / "checkpoints" / "best.ckpt"
    torch.save({"state_dict": {"weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(UserError, match=rf"; use the config it was trained with \({run / 'config.yaml'}\)$"):
        check_checkpoint(path, torch.nn.Linear(2, 1, bias=False))


def test_a_full_disk_during_torch_save_is_reported_as_one(tmp_path, monkeypatch):
    def failing_save(checkpoint, file):
        raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos")

    monkeypatch.setattr(checkpoint_io.torch, "save", failing_save)
    monkeypatch.setattr(checkpoint_io.shutil, "disk_usage", lambda path: type("Usage", (), {"free": (1 << 20) - 1})())
    with pytest.raises(OSError) as raised:
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "last.ckpt")
    assert raised.value.errno == 28 and not list(tmp_path.iterdir())
    monkeypatch.setattr(checkpoint_io.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 1 << 20})())
    with pytest.raises(RuntimeError, match="unexpected pos"):
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "last.ckpt")
