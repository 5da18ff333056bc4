"""The callbacks and plugins every lit-dl run gets, each switchable in the config's `defaults:`.

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

A callback of the same type in `trainer.callbacks` replaces the default one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment, TorchElasticEnvironment
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ProgressBar
from lightning.pytorch.plugins.io import CheckpointIO

from lit_dl.training.checkpoint_io import AtomicCheckpointIO
from lit_dl.training.divergence import StopOnNonFiniteLoss
from lit_dl.training.monitors import GradientNormMonitor
from lit_dl.training.periodic import PeriodicCheckpoint
from lit_dl.training.progress import LineProgressBar
from lit_dl.training.resume import ExactResume
from lit_dl.training.signals import StopOnSignal
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

    def callbacks(self, configured: list[Callback], progress_bar_enabled: bool = True) -> list[Callback]:
        """The default callbacks the user's `configured` ones do not already provide."""
        wanted: list[tuple[bool, type, Any]] = [
            (self.lr_monitor, LearningRateMonitor, lambda: LearningRateMonitor(logging_interval="step")),
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


def _progress_bar() -> ProgressBar:
    if not sys.stdout.isatty():
        return LineProgressBar()
    try:
        from lightning.pytorch.callbacks import RichProgressBar

        return RichProgressBar()
    except (ImportError, ModuleNotFoundError):
        from lightning.pytorch.callbacks import TQDMProgressBar

        return TQDMProgressBar()
