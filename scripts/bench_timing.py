"""A bench-only callback that records the wall time at the end of every training step.

`lit-dl fit ... --trainer.callbacks+=bench_timing.StepTimer` (with `scripts/` on `sys.path`)
adds it to a real run; the times land in `StepTimer.runs`, one list per fit, for the harness
running lit-dl in the same process to read.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import lightning.pytorch as pl


def stamp() -> tuple[float, float]:
    """Wall and training-thread CPU seconds, now."""
    return time.perf_counter(), time.thread_time()


class StepTimer(pl.Callback):
    """`(time.perf_counter(), time.thread_time())` after each optimizer step (on_train_batch_end),
    per fit: wall time, and the CPU time of the training thread, which load from other processes
    on the machine barely moves."""

    runs: ClassVar[list[list[tuple[float, float]]]] = []

    def __init__(self) -> None:
        self.times: list[tuple[float, float]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.times = []
        StepTimer.runs.append(self.times)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.times.append(stamp())
