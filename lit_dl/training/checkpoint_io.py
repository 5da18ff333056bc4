"""Checkpoint files: written atomically, checked before anything trusts them.

- `AtomicCheckpointIO` writes every checkpoint to a temporary file beside its target and renames
  it into place, so a kill during a save never leaves a truncated `last.ckpt`.
- `check_checkpoint` turns a missing, truncated or foreign checkpoint into one clear line before
  anything is written into the run directory.
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import Tensor

from lit_dl.errors import UserError
from lit_dl.run.layout import RunPaths, run_dir_of_checkpoint, stale_temporaries, temporary_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """`torch.save` into `<name>.tmp-<pid>` in the target's directory, fsync, then rename.

    Lightning's own save goes through an fsspec transaction whose temporary file lives in the
    system temp directory; when that is another filesystem (tmpfs, node-local disk) the final
    move is a copy, and a kill during it truncates the target. A rename within one directory
    is atomic on POSIX filesystems. Remote URLs keep Lightning's behaviour.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Path | str, storage_options: Any | None = None) -> None:
        if not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in stale_temporaries(target):
            stale.unlink(missing_ok=True)
        partial = temporary_path(target)
        try:
            with open(partial, "wb") as file:
                _save_or_report_full_disk(checkpoint, file, target)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        _fsync_directory(target.parent)

    def load_checkpoint(self, path: Path | str, map_location: Any = lambda storage, loc: storage, weights_only: bool | None = None) -> dict[str, Any]:
        try:
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        except FileNotFoundError:
            raise UserError(f"checkpoint not found: {path}; pass an existing file, or 'last' or 'best'") from None
        except _UNREADABLE as error:
            raise UserError(unreadable_checkpoint_message(path, error)) from None


def _save_or_report_full_disk(checkpoint: dict[str, Any], file: Any, target: Path) -> None:
    """`torch.save`, whose zip writer reports a full disk as a RuntimeError ('unexpected pos')."""
    try:
        torch.save(checkpoint, file)
    except RuntimeError as error:
        if shutil.disk_usage(target.parent).free < 1 << 20:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target)) from error
        raise


def _is_local(path: Path | str) -> bool:
    return isinstance(get_filesystem(path), LocalFileSystem)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is; not every OS lets us open one.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# What torch.load raises on a truncated or foreign file: a broken zip, a cut pickle, garbage.
_UNREADABLE = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError)


def unreadable_checkpoint_message(path: Path | str, error: BaseException) -> str:
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if "eights only" in reason or len(reason) > 80:
        reason = type(error).__name__
    return (
        f"checkpoint {path} cannot be read: it is truncated or not a PyTorch checkpoint ({reason}); "
        "pass another one (each run keeps best.ckpt and last.ckpt in its checkpoints/ folder)"
    )


def check_readable(path: Path | str) -> None:
    """Raise a UserError unless `path` loads the way LightningCLI reads a checkpoint's
    hyperparameters (`weights_only=True`), before LightningCLI tries and fails with a traceback."""
    try:
        torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except _UNREADABLE as error:
        raise UserError(unreadable_checkpoint_message(path, error)) from None


def check_checkpoint(path: Path | str, model: torch.nn.Module) -> None:
    """Raise a UserError unless `path` is a readable checkpoint whose weights fit `model`.

    The file is memory-mapped, so only the tensors' metadata is read: cheap even for big models.
    """
    if not _is_local(path) or not Path(path).is_file():
        return  # a remote URL or a sharded checkpoint directory: Lightning's loader reports on it
    try:
        # Lightning itself loads a checkpoint to resume with `weights_only=False`.
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except _UNREADABLE as error:
        raise UserError(unreadable_checkpoint_message(path, error)) from None
    saved = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(saved, dict):
        raise UserError(f"{path} is not a Lightning checkpoint (it has no state_dict); pass a .ckpt that lit-dl wrote")
    expected = model.state_dict()
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    reshaped = [
        f"{k} {list(saved[k].shape)} vs {list(expected[k].shape)}"
        for k in expected
        if k in saved and isinstance(saved[k], Tensor) and saved[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or reshaped):
        return
    problems = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("shape (checkpoint vs model)", reshaped)):
        if names:
            problems.append(f"{len(names)} {label}: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}")
    owner = run_dir_of_checkpoint(Path(path))
    run_config = RunPaths(owner).config if owner is not None else None
    fix = f"use the config it was trained with ({run_config})" if run_config and run_config.is_file() else "use the config it was trained with"
    raise UserError(f"checkpoint {path} was saved from another architecture ({'; '.join(problems)}); {fix}")
