"""What lets a run be stopped at any moment and continued as if it never was.

- `AtomicCheckpointIO` writes every checkpoint to a temporary file beside its target and renames
  it into place, so a kill during a save never leaves a truncated `last.ckpt`.
- `ExactResume` puts the RNG states in each checkpoint and restores them and the training
  loader's position on resume: the same batches and dropout masks as an uninterrupted run.
- `PeriodicCheckpoint` overwrites `last.ckpt` every N optimizer steps, mid-epoch too.
- `StopOnSignal` turns SIGTERM and SIGINT into a checkpoint at the next batch boundary, a line
  saying how to resume, and exit code 128 + the signal number.
- `StopOnNonFiniteLoss` stops a diverged run, naming the first bad step and the last good
  checkpoint; it refuses to write a checkpoint with non-finite weights, so that one is kept.
- `check_checkpoint` turns a missing, truncated or foreign checkpoint into one clear line before
  anything is written into the run directory.

The training loader's position inside the epoch is the stateful `TensorBatchLoader`'s
`state_dict`, which Lightning saves in every checkpoint.
"""

from __future__ import annotations

import glob
import math
import os
import pickle
import random
import shlex
import signal
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.plugins.io import CheckpointIO, TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch import Tensor
from torchmetrics import Metric

from lit_dl.errors import UserError
from lit_dl.loggers import RunCSVLogger

# The signal that stopped the last fit, for `lit-dl`'s exit code; None when none did.
stop_signal: int | None = None


# -- checkpoint files ------------------------------------------------------------------------
class AtomicCheckpointIO(TorchCheckpointIO):
    """`torch.save` into `<name>.tmp-<pid>` in the target's directory, fsync, then rename.

    Lightning's own save goes through an fsspec transaction whose temporary file lives in the
    system temp directory; when that is another filesystem (tmpfs, node-local disk) the final
    move is a copy, and a kill during it truncates the target. A rename within one directory
    is atomic on POSIX filesystems. Remote URLs keep Lightning's behaviour.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f"{glob.escape(target.name)}.tmp-*"):
            stale.unlink(missing_ok=True)  # left by a process killed while saving
        partial = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        try:
            with open(partial, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        _fsync_directory(target.parent)

    def load_checkpoint(self, path: _PATH, map_location: Any = lambda storage, loc: storage, weights_only: bool | None = None) -> dict[str, Any]:
        try:
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        except FileNotFoundError:
            raise UserError(f"checkpoint not found: {path}; pass an existing file, or 'last' or 'best'") from None
        except _UNREADABLE as error:
            raise UserError(unreadable_checkpoint_message(path, error)) from None


def _is_local(path: _PATH) -> bool:
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


def unreadable_checkpoint_message(path: _PATH, error: BaseException) -> str:
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if "eights only" in reason or len(reason) > 80:
        reason = type(error).__name__
    return (
        f"checkpoint {path} cannot be read: it is truncated or not a PyTorch checkpoint ({reason}); "
        "pass another one (each run keeps best.ckpt and last.ckpt in its checkpoints/ folder)"
    )


def check_checkpoint(path: _PATH, model: torch.nn.Module) -> None:
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
    run_config = Path(path).resolve().parent.parent / "config.yaml"
    fix = f"use the config it was trained with ({run_config})" if run_config.is_file() else "use the config it was trained with"
    raise UserError(f"checkpoint {path} was saved from another architecture ({'; '.join(problems)}); {fix}")


class PeriodicCheckpoint(Callback):
    """Overwrites the run's `last.ckpt` every `every_n_train_steps` optimizer steps.

    ModelCheckpoint judges the best checkpoint after each validation and writes `last.ckpt`
    then; asking it to save every N steps as well is not allowed (the two triggers exclude each
    other), so mid-epoch saves come from here, into the same file. Resuming one continues
    mid-epoch exactly: the loader's position and the RNG states are in it.
    """

    def __init__(self, every_n_train_steps: int = 1000) -> None:
        if every_n_train_steps < 1:
            raise UserError(f"every_n_train_steps must be at least 1, got {every_n_train_steps}")
        self.every_n_train_steps = every_n_train_steps

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step % self.every_n_train_steps or trainer.sanity_checking or trainer.fast_dev_run:
            return
        if _validation_follows(trainer, batch_idx):
            return  # ModelCheckpoint saves after it; Lightning resumes a save made before it as if validated
        path = last_checkpoint_path(trainer)
        trainer.save_checkpoint(path)
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.save_last:
                # Its next `last.ckpt` then overwrites ours instead of becoming `last-v1.ckpt`.
                callback.last_model_path = path


def _validation_follows(trainer: pl.Trainer, batch_idx: int) -> bool:
    if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
        return True
    every = trainer.val_check_batch
    if not isinstance(every, int) or not trainer.enable_validation:
        return False
    count = batch_idx if trainer.check_val_every_n_epoch is not None else trainer.fit_loop.epoch_loop.total_batch_idx
    return (count + 1) % every == 0


# -- exact resume ---------------------------------------------------------------------------
class ExactResume(Callback):
    """Makes a resumed run continue exactly as the uninterrupted run would have.

    Each checkpoint gets, besides what Lightning saves:
    - the torch/CUDA/numpy/python RNG states (Lightning re-seeds on start but restores no
      generator, so dropout and random augmentation would draw other numbers). Under DDP every
      rank is seeded alike and draws alike, so rank zero's states serve all ranks;
    - the states of the module's torchmetrics (an epoch's training accuracy accumulates across
      the interruption);
    - its step: the rows the interrupted run logged in `metrics.csv` from that step on are
      dropped on resume, since the resumed run logs them again. What was logged before the
      checkpoint is flushed to disk right after it.

    It also hands the training loader its saved position when Lightning did not: Lightning drops
    it when `configure_optimizers` read `trainer.estimated_stepping_batches` (OneCycleLR does),
    because that builds the loader before the checkpoint is restored
    (Lightning-AI/pytorch-lightning#20550).

    Everything is applied in `on_train_start`, after the sanity check, before the first batch.
    """

    def __init__(self) -> None:
        self._saved: dict[str, Any] = {}
        self._loader_states: list[dict[str, Any]] = []
        self._flush_logs = False

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint.setdefault("callbacks", {})[self.state_key] = {
            "rng": _rng_states(),
            # Mid-epoch only: at an epoch's end the training metrics are about to be reset.
            "metrics": {} if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch else {
                name: _metric_state(metric) for name, metric in pl_module.named_modules() if isinstance(metric, Metric)
            },
            "step": trainer.global_step,
        }
        self._flush_logs = True

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        # What was logged up to the checkpoint must be on disk: a resumed run does not log it again.
        if self._flush_logs:
            self._flush_logs = False
            for logger in trainer.loggers:
                if isinstance(logger, RunCSVLogger):
                    logger.save()

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._saved = checkpoint.get("callbacks", {}).get(self.state_key) or {}
        fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
        self._loader_states = list(fit_loop.get("state_dict", {}).get("combined_loader", []))

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        saved, self._saved = self._saved, {}
        loader_states, self._loader_states = self._loader_states, []
        if loader_states and trainer.train_dataloader is not None:
            loaders = [loader for loader in CombinedLoader(trainer.train_dataloader).flattened if _is_stateful(loader)]
            if len(loaders) == len(loader_states):
                for loader, state in zip(loaders, loader_states):
                    if loader.state_dict() != state:
                        loader.load_state_dict(state)
        if saved.get("step") is not None:
            for logger in trainer.loggers:
                if isinstance(logger, RunCSVLogger):
                    logger.drop_rows_from_step(saved["step"])
        metrics = dict(pl_module.named_modules())
        for name, state in (saved.get("metrics") or {}).items():
            if isinstance(metrics.get(name), Metric):
                _load_metric_state(metrics[name], state)
        if saved.get("rng"):
            _set_rng_states(saved["rng"])


def _rng_states() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        # This process's GPU only: asking every GPU would open a CUDA context on each of them.
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
        # Tensors and tuples only, so the checkpoint also loads with `weights_only=True`.
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *numpy_state[2:]),
        "python": random.getstate(),
    }


def _set_rng_states(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if isinstance(state.get("cuda"), Tensor) and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _metric_state(metric: Metric) -> dict[str, Any]:
    def detached(value: Any) -> Any:
        return [v.detach().cpu() for v in value] if isinstance(value, list) else value.detach().cpu()

    return {"states": {k: detached(v) for k, v in metric.metric_state.items()}, "updates": metric.update_count}


def _load_metric_state(metric: Metric, saved: dict[str, Any]) -> None:
    device = metric.device
    for key, value in saved["states"].items():
        setattr(metric, key, [v.to(device) for v in value] if isinstance(value, list) else value.to(device))
    metric._update_count = saved["updates"]  # torchmetrics has no public setter for it
    metric._computed = None


def _is_stateful(loader: Any) -> bool:
    return callable(getattr(loader, "state_dict", None)) and callable(getattr(loader, "load_state_dict", None))


# -- stopping on a signal ------------------------------------------------------------------
class StopOnSignal(Callback):
    """SIGTERM or SIGINT: finish the current batch, save `last.ckpt`, say how to resume, exit.

    Lightning already turns SIGTERM into a stop at the next batch boundary (and, under DDP,
    tells every rank). This callback routes the first Ctrl-C the same way instead of raising
    KeyboardInterrupt mid-step (a second Ctrl-C aborts at once), then saves when the stop
    arrives. Under SLURM, SIGUSR1 stays Lightning's: it saves `hpc_ckpt_<n>.ckpt` and requeues.
    """

    def __init__(self) -> None:
        self._previous_sigint: Any = None
        self._signal: int | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous_sigint = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self._signal = signal.SIGINT
        signal.signal(signal.SIGINT, self._previous_sigint)  # a second Ctrl-C aborts
        rank_zero_only(print)("\nstopping after this batch to save a checkpoint (Ctrl-C again to abort)", file=sys.stderr, flush=True)
        sigterm_handler = signal.getsignal(signal.SIGTERM)  # Lightning's, while the trainer runs
        if callable(sigterm_handler):
            sigterm_handler(signal.SIGTERM, frame)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        global stop_signal
        if not isinstance(exception, SIGTERMException):
            return
        stop_signal = self._signal or signal.SIGTERM
        if trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking:
            return  # e.g. testing the best weights after fit: nothing of the training to save
        path = last_checkpoint_path(trainer)
        trainer.save_checkpoint(path)
        if trainer.is_global_zero:
            name = signal.Signals(stop_signal).name
            print(
                f"lit-dl: stopped by {name} at step {trainer.global_step}; "
                f"saved {path}; resume with: {resume_command(path)}",
                file=sys.stderr,
                flush=True,
            )

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if threading.current_thread() is not threading.main_thread() or self._previous_sigint is None:
            return
        signal.signal(signal.SIGINT, self._previous_sigint)
        self._previous_sigint = None


def last_checkpoint_path(trainer: pl.Trainer) -> str:
    callback = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.dirpath), None)
    directory = callback.dirpath if callback is not None else os.path.join(trainer.default_root_dir, "checkpoints")
    return os.path.join(directory, ModelCheckpoint.CHECKPOINT_NAME_LAST + ModelCheckpoint.FILE_EXTENSION)


def resume_command(checkpoint: _PATH) -> str:
    """The command that continues the run a checkpoint belongs to, in that run's directory."""
    config = Path(checkpoint).parent.parent / "config.yaml"
    return shlex.join(["lit-dl", "fit", "--config", str(config), "--ckpt_path", str(checkpoint)])


# -- diverged training ---------------------------------------------------------------------
class StopOnNonFiniteLoss(Callback):
    """Stops training at a NaN or infinite loss with a line naming the step and the last good
    checkpoint, and never writes a checkpoint whose weights are not finite.

    The first bad step is tracked on the device; the host looks at it every
    `check_every_n_steps` steps (default: `trainer.log_every_n_steps`, when Lightning syncs for
    logging anyway) and before every save, so a GPU step does not wait for the check.
    """

    _NONE = 2**62  # "no bad step yet", so that the first bad step is a minimum over ranks

    def __init__(self, check_every_n_steps: int | None = None) -> None:
        self.check_every_n_steps = check_every_n_steps
        self._first_bad_step: Tensor | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, Tensor):
            return
        step = trainer.global_step  # optimizer steps done, this batch's included
        if loss.device.type == "cpu" and trainer.world_size == 1:
            # Reading a host tensor waits for no device, and with one process no other rank
            # must join the decision: check exactly, every step, for the cost of one read.
            if not math.isfinite(loss.item() if loss.numel() == 1 else loss.detach().sum().item()):
                raise UserError(self._message(trainer, step))
            return
        if self._first_bad_step is None or self._first_bad_step.device != loss.device:
            self._first_bad_step = torch.full((), self._NONE, dtype=torch.long, device=loss.device)
        bad = ~torch.isfinite(loss.detach()).all()
        self._first_bad_step = torch.where(bad, torch.clamp(self._first_bad_step, max=step), self._first_bad_step)
        every = self.check_every_n_steps or trainer.log_every_n_steps or 1
        if step % every == 0 or trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            # Every rank checks at the same steps, so the reduction is a collective they all join.
            first_bad = int(trainer.strategy.reduce(self._first_bad_step.clone(), reduce_op="min"))
            if first_bad < self._NONE:
                raise UserError(self._message(trainer, first_bad))

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        if _all_finite(checkpoint.get("state_dict") or {}):
            return
        # Every rank holds the same (all-reduced) weights, so every rank stops here together.
        first_bad = int(self._first_bad_step) if self._first_bad_step is not None else self._NONE
        raise UserError(self._message(trainer, first_bad if first_bad < self._NONE else trainer.global_step, weights=True))

    def _message(self, trainer: pl.Trainer, step: int, weights: bool = False) -> str:
        last_good = _last_saved_checkpoint(trainer)
        what = "the weights became" if weights else "the training loss became"
        kept = f"the last good checkpoint is kept: {last_good}" if last_good else "no checkpoint was saved before it"
        return (
            f"{what} NaN or infinite at step {step} (epoch {trainer.current_epoch + 1}); training stopped and {kept}; "
            "lower the learning rate, clip gradients (--trainer.gradient_clip_val 1.0) or check the data for NaNs"
        )


def _all_finite(weights: dict[str, Any]) -> bool:
    flags = [torch.isfinite(t).all() for t in weights.values() if isinstance(t, Tensor) and t.is_floating_point()]
    # One host sync for the whole model, not one per tensor.
    return not flags or bool(torch.stack([f.to(flags[0].device) for f in flags]).all())


def _last_saved_checkpoint(trainer: pl.Trainer) -> str | None:
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            for path in (callback.last_model_path, callback.best_model_path):
                if path and os.path.isfile(path):
                    return path
    return None


# -- wiring ---------------------------------------------------------------------------------
def pin_checkpoint_dirs(callbacks: list[Any], run_dir: Path) -> None:
    """Give every ModelCheckpoint without a `dirpath` the run's checkpoints folder, absolute.

    ModelCheckpoint restores its record of the best and last files only when the folder it
    resumes in is spelled exactly as when it saved; otherwise it writes `last-v1.ckpt` next to
    a stale `last.ckpt`. An absolute path is the same from any working directory.
    """
    for callback in callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
            callback.dirpath = os.path.realpath(Path(run_dir) / "checkpoints")



DEFAULT_CALLBACKS: tuple[type[Callback], ...] = (ExactResume, StopOnSignal, StopOnNonFiniteLoss, PeriodicCheckpoint)


def trainer_kwargs(trainer_config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Trainer arguments that make checkpoints atomic and keep the trainer's own files in the run.

    `default_root_dir` is where Lightning's SLURM auto-requeue writes `hpc_ckpt_<n>.ckpt` and
    looks for it again: the run's checkpoints folder, not the root every experiment shares.
    """
    plugins = trainer_config.get("plugins")
    plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [] if plugins is None else [plugins]
    accelerator, strategy = str(trainer_config.get("accelerator") or ""), trainer_config.get("strategy") or ""
    # XLA and DeepSpeed write checkpoints their own way; a torch.save plugin would break them.
    own_io = any(n in f"{accelerator} {strategy if isinstance(strategy, str) else type(strategy).__name__}".lower() for n in ("tpu", "xla", "deepspeed"))
    if not own_io and not any(isinstance(p, CheckpointIO) for p in plugins):
        plugins.append(AtomicCheckpointIO())
    return {"plugins": plugins or None, "default_root_dir": str(Path(run_dir) / "checkpoints")}
