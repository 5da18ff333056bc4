"""A run's checkpoints: `best.ckpt` as Lightning's ModelCheckpoint judges it, and `last.ckpt`
always the newest state.

Lightning 2.6 writes `last.ckpt` only at a validation that also saved a top-k checkpoint (and
skips it at the end of training once any was written), so after an epoch that was not the best
`last.ckpt` is stale: a resume repeats epochs and `--ckpt_path last` tests old weights.
`RunCheckpoint` takes `last.ckpt` over: it is written after every validation, at the end of
every epoch without one, at the end of fit, mid-epoch (`PeriodicCheckpoint`) and at a stop
(`StopOnSignal`), all through `save_last`. When the newest state is also the new best, it is
written once: `last.ckpt` becomes a hard link to `best.ckpt` (a copy where links fail), renamed
into place. The best checkpoint's validation metrics and the latest validation's travel in the
checkpoint, so results.json can say what the best checkpoint scored, not only the last epoch,
also after a resume that validates nothing (it only tests and records a run that trained).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

from lit_dl.internals import is_last_batch
from lit_dl.run.layout import BEST, CHECKPOINT_SUFFIX, LAST, RunPaths, temporary_path
from lit_dl.tasks.classifier import is_per_class_metric
from lit_dl.training.checkpoint_io import AtomicCheckpointIO

# What the `checkpoint:` section holds unless the config says otherwise.
CHECKPOINT_DEFAULTS = {
    "monitor": "val/loss",
    "mode": "min",
    "filename": BEST,
    "save_last": True,
    "auto_insert_metric_name": False,
    "enable_version_counter": False,  # the names best/last are fixed
}


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint (every option as documented there) whose `last.ckpt` is the
    newest state: see the module's docstring."""

    best_metrics: dict[str, float] = {}
    last_metrics: dict[str, float] = {}  # the latest validation's: a resume that validates nothing still records them
    _last_step: int | None = None
    _state_key: str | None = None
    _keeps_last: bool = False
    _validated_at_epoch_end: bool = False
    _candidate: tuple[Any, dict[str, float]] | None = None  # (best score before, this validation's metrics) while Lightning saves

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.save_last:  # Lightning's own `last` saving would write a second, stale copy
            self._keeps_last, self.save_last = True, False
        super().setup(trainer, pl_module, stage)

    @property
    def state_key(self) -> str:
        # Lightning names every hook call after it (a repr of five settings, about 1.5 us) and
        # calls each callback's hooks several times a step; the settings it names are fixed
        # once the callback is built.
        if self._state_key is None:
            self._state_key = super().state_key
        return self._state_key

    @property
    def last_path(self) -> str:
        return os.path.join(str(self.dirpath), LAST + CHECKPOINT_SUFFIX)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if _training(trainer) and is_last_batch(trainer):
            # The epoch's own validation: save once the epoch counts as done (below), so that a
            # resume starts the next epoch instead of re-entering the end of this one.
            self._validated_at_epoch_end = True
            return
        self._then_save_last(trainer, pl_module, super().on_validation_end)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        hooks = [super().on_train_epoch_end]  # Lightning's own save when there is no validation
        if self._validated_at_epoch_end:
            hooks.insert(0, super().on_validation_end)
        self._validated_at_epoch_end = False
        self._then_save_last(trainer, pl_module, *hooks)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.write_last(trainer)  # a fit that stopped between validations (max_steps, max_time)

    def _then_save_last(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *hooks: Any) -> None:
        """Run Lightning's `hooks` (each saves a top-k checkpoint, the best or another, if this one
        is), then make `last.ckpt` this state: a link to the file just written, if one was."""
        files_before = self._saved_files()
        validated = validation_metrics(trainer) if _training(trainer) else {}
        self.last_metrics = validated or self.last_metrics
        self._candidate = (self.best_model_score, validated) if _training(trainer) else None
        try:
            for hook in hooks:
                hook(trainer, pl_module)
        finally:
            self._candidate = None
        if not _training(trainer):
            return
        written = [path for path, identity in self._saved_files().items() if identity != files_before.get(path)]
        if self.best_model_path in written:
            self.best_metrics = validated
        self.write_last(trainer, same_as=written[0] if written else None)

    def _saved_files(self) -> dict[str, tuple[int, int] | None]:
        """The top-k checkpoint files and the best, each with its identity (inode, mtime): a file
        (re)written since has another."""
        paths = {self.best_model_path, *self.best_k_models} - {""}
        return {path: identity for path in paths if (identity := _identity(path)) is not None}

    def write_last(self, trainer: pl.Trainer, same_as: str | None = None, always: bool = False) -> None:
        """Make `last.ckpt` the state of this step, once per step. `same_as`: a checkpoint file
        just written with this very state, to link instead of writing it again; `always`: also
        when the config turned `save_last` off (a stop, a mid-epoch save: what a resume needs)."""
        if not (self._keeps_last or always) or not _training(trainer) or self._last_step == trainer.global_step:
            return
        self.last_model_path = self.last_path  # part of the state it saves
        if same_as and isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO):
            # Every save renames a new file into place, so a link never sees a later write.
            if trainer.is_global_zero:
                link_atomically(Path(same_as), Path(self.last_path))
            trainer.strategy.barrier("last.ckpt")
        else:
            trainer.save_checkpoint(self.last_path, self.save_weights_only)
        self._last_step = trainer.global_step

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best_metrics": dict(self._best_metrics_now()), "last_metrics": dict(self.last_metrics)}

    def _best_metrics_now(self) -> dict[str, float]:
        """The best checkpoint's validation metrics, as the checkpoint being written must hold
        them. Lightning makes a new best its `best_model_score` before it writes the file (2.6,
        `_update_best_and_save`), so inside that write this validation's metrics are already the
        best's; `best_metrics` becomes them only after it (and a resume reads them back)."""
        if self._candidate is not None and self.best_model_score is not self._candidate[0]:
            return self._candidate[1]
        return self.best_metrics

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_metrics = dict(state_dict.get("best_metrics") or {})
        self.last_metrics = dict(state_dict.get("last_metrics") or {})


def save_last(trainer: pl.Trainer) -> str | None:
    """Write `last.ckpt` now (a stop, a mid-epoch save); returns its path, None without a
    checkpoint folder to write it in."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, RunCheckpoint) and callback.dirpath:
            callback.write_last(trainer, always=True)
            return callback.last_path
    folder = next((c.dirpath for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.dirpath), None)
    if folder is None:
        return None
    path = os.path.join(str(folder), LAST + CHECKPOINT_SUFFIX)
    trainer.save_checkpoint(path)
    return path


def last_checkpoint_path(trainer: pl.Trainer) -> str | None:
    """Where the run's `last.ckpt` is (written or not); None without a RunCheckpoint. No
    collective (unlike `trainer.log_dir`): any one rank may ask."""
    return next((c.last_path for c in trainer.checkpoint_callbacks if isinstance(c, RunCheckpoint) and c.dirpath), None)


def rewind_to_last_checkpoint(trainer: pl.Trainer) -> dict[str, int]:
    """After an abort (no stop checkpoint): forget what the run logged after its `last.ckpt`,
    as a resume would, and return that checkpoint's epochs and steps for the record."""
    from lit_dl.training.csv_logger import RunCSVLogger

    path = last_checkpoint_path(trainer)
    saved = _load_progress(path) if path and os.path.isfile(path) else {"epochs": 0, "steps": 0}
    for logger in trainer.loggers:
        if isinstance(logger, RunCSVLogger):
            logger.save()
            logger.drop_rows_from_step(saved["steps"])
    return saved


def _load_progress(path: str) -> dict[str, int]:
    import torch

    from lit_dl.internals import saved_epochs_done

    checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    done = saved_epochs_done(checkpoint)
    return {"epochs": done if done is not None else int(checkpoint.get("epoch", 0)), "steps": int(checkpoint.get("global_step", 0))}


def place_checkpoints(callbacks: list[Any], run_dir: Path) -> None:
    """Give every ModelCheckpoint without a `dirpath` the run's checkpoints folder, absolute.

    ModelCheckpoint restores its record of the best and last files only when the folder it
    resumes in is spelled exactly as when it saved; otherwise it writes `last-v1.ckpt` next to
    a stale `last.ckpt`. An absolute path is the same from any working directory.
    """
    for callback in callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
            callback.dirpath = os.path.realpath(RunPaths(Path(run_dir)).checkpoints)


def fit_outcome(trainer: pl.Trainer) -> dict[str, Any]:
    """What a finished fit records: the best checkpoint and its validation metrics (`val`), the
    last validation's (`val_last`), and how far it trained."""
    callback = trainer.checkpoint_callback
    last = validation_metrics(trainer) or (dict(callback.last_metrics) if isinstance(callback, RunCheckpoint) else {})
    outcome: dict[str, Any] = {"val": last, "val_last": last, "epochs": trainer.current_epoch, "steps": trainer.global_step}
    if isinstance(callback, ModelCheckpoint):
        score = callback.best_model_score
        outcome.update(
            best_checkpoint=callback.best_model_path or None,
            best_score=float(score) if score is not None else None,
            monitor=callback.monitor,
        )
        if isinstance(callback, RunCheckpoint) and callback.best_metrics:
            outcome["val"] = dict(callback.best_metrics)
    return outcome


def validation_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The whole-set `val/` metrics of the latest validation."""
    return scalars(trainer.callback_metrics, "val/")


def scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """The one-number metrics under `prefix` (per-class values are recorded apart, in `per_class`)."""
    return {
        k: float(v) for k, v in metrics.items()
        if k.startswith(prefix) and not is_per_class_metric(k) and getattr(v, "numel", lambda: 1)() == 1
    }


def link_atomically(source: Path, target: Path) -> None:
    """`target` becomes the same file as `source`: a hard link (a copy where the filesystem has
    none) made beside it, then renamed over it, so `target` is never missing or partial."""
    partial = temporary_path(target)
    partial.unlink(missing_ok=True)
    try:
        try:
            os.link(source, partial)
        except OSError:
            shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return stat.st_ino, stat.st_mtime_ns


def _training(trainer: pl.Trainer) -> bool:
    return trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking and not trainer.fast_dev_run


__all__ = ["RunCheckpoint", "CHECKPOINT_DEFAULTS", "BEST", "save_last", "place_checkpoints", "fit_outcome", "scalars"]
