"""What lit-dl adds to every Trainer: `RunDefaults.trainer_arguments` builds all of it from the
run's directory (callbacks, loggers, plugins, profiler, where checkpoints go). The callbacks and
plugins are switchable in the config's `defaults:` section.

They are recorded in each run's config.yaml like any other setting:

    defaults:
      lr_monitor: true              # lr-<optimizer> in metrics.csv
      grad_norm: true               # grad_norm/total
      progress: true                # a bar on a terminal, one line per epoch otherwise
      summary: true                 # the fit's first lines: experiment, net, data, device, run
      exact_resume: true            # RNG states and loader position in every checkpoint
      stop_on_signal: true          # SIGTERM/SIGUSR1/SIGINT: all ranks save last.ckpt at one batch; SIGUSR1 requeues a SLURM job
      stop_on_nan: true             # stop at a non-finite loss, never save NaN weights
      checkpoint_every_n_steps: 1000  # mid-epoch last.ckpt; null turns it off
      atomic_checkpoints: true      # write-then-rename, never a truncated checkpoint

A callback of the same type in `trainer.callbacks` replaces the default one. Always: the CSV
logger writing the run's metrics.csv, W&B and TensorBoard loggers aimed at the run directory,
every ModelCheckpoint placed in the run's checkpoints/ folder, and Lightning's model table and
profiler off unless configured (lit-dl's summary says the parameter count; see speed.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment, TorchElasticEnvironment
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ProgressBar
from lightning.pytorch.plugins.io import CheckpointIO

from lit_dl.training import tracking
from lit_dl.training.checkpoint_io import AtomicCheckpointIO
from lit_dl.training.checkpoints import place_checkpoints
from lit_dl.training.csv_logger import RunCSVLogger
from lit_dl.training.divergence import StopOnNonFiniteLoss
from lit_dl.training.monitors import GradientNormMonitor, StepLearningRateMonitor
from lit_dl.training.periodic import PeriodicCheckpoint
from lit_dl.training.progress import LineProgressBar, RichBar, TQDMBar
from lit_dl.training.resume import ExactResume
from lit_dl.training.signals import StopOnSignal
from lit_dl.training.speed import NoProfiler
from lit_dl.training.summary import RunSummary


@dataclass
class RunDefaults:
    """What lit-dl adds to every Trainer; set an entry to false (or null) to leave it out."""

    lr_monitor: bool = True
    grad_norm: bool = True
    progress: bool = True
    summary: bool = True
    exact_resume: bool = True
    stop_on_signal: bool = True
    stop_on_nan: bool = True
    checkpoint_every_n_steps: int | None = 1000
    atomic_checkpoints: bool = True

    def trainer_arguments(
        self, trainer: Mapping[str, Any], *, run_dir: Path, checkpoint: Any, logger_specs: Any,
        config_text: Callable[[], str], training: bool = True,
    ) -> dict[str, Any]:
        """The Trainer arguments lit-dl adds to the configured `trainer` section (instantiated):
        `checkpoint` is the `checkpoint:` section's callback, `logger_specs` the parsed
        `trainer.logger` entries, `config_text()` the resolved config (for W&B). Only a command
        that trains (`training`) writes the run's metrics.csv: an evaluation of it is recorded
        in results.json, beside the fit's values."""
        configured = list(trainer.get("callbacks") or [])
        progress = trainer.get("enable_progress_bar", True) is not False
        arguments: dict[str, Any] = {
            "callbacks": [*configured, *self.callbacks(configured, progress_bar_enabled=progress)],
            "logger": self.loggers(trainer.get("logger"), logger_specs, run_dir, config_text, with_csv=training),
            "plugins": self.plugins(_as_list(trainer.get("plugins")), str(trainer.get("accelerator") or ""), trainer.get("strategy") or "") or None,
        }
        if trainer.get("profiler") is None:
            arguments["profiler"] = NoProfiler()
        if trainer.get("enable_model_summary") is None:
            arguments["enable_model_summary"] = False  # the run summary's parameter count says it (no FLOPs: 0)
        if trainer.get("sync_batchnorm") and not _on_cuda(trainer.get("accelerator")):
            # torch's SyncBatchNorm runs on GPUs only; on CPUs (ddp.yaml tried out there) each
            # process keeps its own batch statistics instead of failing.
            arguments["sync_batchnorm"] = False
        place_checkpoints([*arguments["callbacks"], checkpoint], run_dir)
        return arguments

    @staticmethod
    def loggers(configured: Any, specs: Any, run_dir: Path, config_text: Callable[[], str], with_csv: bool = True) -> list[Any]:
        """The run's CSV logger first (metrics.csv; `trainer.log_dir` is its folder), then the
        configured ones, W&B and TensorBoard rebuilt to write into the run directory."""
        if configured in (None, True, False):
            configured, specs = [], []
        elif not isinstance(configured, list):
            configured, specs = [configured], [specs]
        others = tracking.prepare_loggers(configured, specs, run_dir=run_dir, experiment=run_dir.parent.name, config=config_text)
        others = [logger for logger in others if not isinstance(logger, RunCSVLogger)]
        return [RunCSVLogger(run_dir), *others] if with_csv else others

    def callbacks(self, configured: list[Callback], progress_bar_enabled: bool = True) -> list[Callback]:
        """The default callbacks the user's `configured` ones do not already provide."""
        wanted: list[tuple[bool, type, Any]] = [
            (self.lr_monitor, LearningRateMonitor, StepLearningRateMonitor),
            (self.grad_norm, GradientNormMonitor, GradientNormMonitor),
            (self.progress and progress_bar_enabled, ProgressBar, _progress_bar),
            (self.summary, RunSummary, RunSummary),
            (self.exact_resume, ExactResume, ExactResume),
            (self.stop_on_signal, StopOnSignal, StopOnSignal),
            (self.stop_on_nan, StopOnNonFiniteLoss, StopOnNonFiniteLoss),
            (self.checkpoint_every_n_steps is not None, PeriodicCheckpoint,
             lambda: PeriodicCheckpoint(self.checkpoint_every_n_steps)),
        ]
        have = lambda kind: any(isinstance(callback, kind) for callback in configured)  # noqa: E731
        return [make() for on, kind, make in wanted if on and not have(kind)]

    def plugins(self, configured: list[Any], accelerator: str, strategy: Any) -> list[Any]:
        """The user's plugins plus atomic checkpoint writes where the strategy uses torch.save, and
        inside a SLURM job Lightning's SLURM environment without its auto-requeue."""
        strategy_name = strategy if isinstance(strategy, str) else type(strategy).__name__
        # XLA and DeepSpeed write checkpoints their own way; a torch.save plugin would break them.
        own_io = any(n in f"{accelerator} {strategy_name}".lower() for n in ("tpu", "xla", "deepspeed"))
        plugins = list(configured)
        if self.atomic_checkpoints and not own_io and not any(isinstance(p, CheckpointIO) for p in plugins):
            plugins.append(AtomicCheckpointIO())
        if self.stop_on_signal and not any(isinstance(p, ClusterEnvironment) for p in plugins) and _slurm_chosen():
            # The environment Lightning would pick, minus its SIGUSR1 handler: StopOnSignal requeues.
            plugins.append(SLURMEnvironment(auto_requeue=False))
        return plugins


def _slurm_chosen() -> bool:
    # Lightning's own order of detection (TorchElastic first, then SLURM), lightning 2.4-2.6.
    return not TorchElasticEnvironment.detect() and SLURMEnvironment.detect()


def _on_cuda(accelerator: Any) -> bool:
    """Whether the trainer will run on CUDA GPUs ("auto" picks them when there are any)."""
    name = str(accelerator or "auto")
    return name in ("gpu", "cuda") or (name == "auto" and torch.cuda.is_available())


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _progress_bar() -> ProgressBar:
    if not sys.stdout.isatty():
        return LineProgressBar()
    try:
        return RichBar()
    except (ImportError, ModuleNotFoundError):  # rich is not installed
        return TQDMBar()
