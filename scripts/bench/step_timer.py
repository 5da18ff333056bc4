"""A bench-only callback: the time at the end of every training step.

`lit-dl fit ... --trainer.callbacks+=scripts.bench.step_timer.StepTimer` (run from the
repository root) adds it to a real run; the times land in `StepTimer.runs`, one list per fit,
for a harness running lit-dl in the same process to read; a run in another process writes them
as JSON to the file named by the environment variable `LIT_DL_BENCH_STEP_TIMES`, if set.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

import lightning.pytorch as pl

from scripts.bench.common import stamp


class StepTimer(pl.Callback):
    """`common.stamp()` (wall, training-thread CPU seconds) after each optimizer step, per fit."""

    runs: ClassVar[list[list[tuple[float, float]]]] = []

    def __init__(self) -> None:
        self.times: list[tuple[float, float]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.times = []
        StepTimer.runs.append(self.times)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if pl_module.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        self.times.append(stamp())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        path = os.environ.get("LIT_DL_BENCH_STEP_TIMES")
        if path and trainer.is_global_zero:
            with open(path, "w") as file:
                json.dump(self.times, file)
