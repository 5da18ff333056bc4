"""Bench-only callbacks: the time at the end of every training step (`StepTimer`), the CPU time
each other callback spends in its per-step hooks (`HookTimer`), and the synchronising CUDA
operations of every training step (`SyncCounter`).

`lit-dl fit ... --trainer.callbacks+=scripts.bench.step_timer.StepTimer` (run from the
repository root) adds it to a real run; the times land in `StepTimer.runs`, one list per fit,
for a harness running lit-dl in the same process to read; a run in another process writes them
as JSON to the file named by the environment variable `LIT_DL_BENCH_STEP_TIMES`, if set.
"""

from __future__ import annotations

import collections
import json
import os
import time
import warnings
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


STEP_HOOKS = ("on_train_batch_start", "on_before_backward", "on_after_backward", "on_before_optimizer_step",
              "on_before_zero_grad", "on_train_batch_end")


class HookTimer(pl.Callback):
    """The training thread's CPU time inside every other callback's per-step hooks (`STEP_HOOKS`,
    whether the callback overrides them or not; lit-dl sets those it does not to None, which
    Lightning does not call), per training step, by callback class, less the timing's own cost
    (measured on an empty hook). Lightning's own cost of calling each hook (its dispatch loop) is
    not in it. `HookTimer.runs` gets one dict per fit."""

    runs: ClassVar[list[dict[str, float]]] = []

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.spent: dict[str, float] = collections.defaultdict(float)
        self.steps = 0
        for callback in trainer.callbacks:
            if callback is not self:
                self.spent[type(callback).__name__] += 0.0  # listed (0) where none of its hooks is called
                for hook in STEP_HOOKS:
                    # lit-dl sets the hooks a callback does not use to None (Lightning skips them).
                    if callable(getattr(callback, hook)):
                        setattr(callback, hook, self._timed(getattr(callback, hook), type(callback).__name__))
        self.own_cost = self._cost_of_timing()

    def _timed(self, hook: Any, owner: str) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return hook(*args, **kwargs)
            finally:
                self.spent[owner] += time.thread_time() - start
                self.calls[owner] += 1

        return timed

    def _cost_of_timing(self) -> float:
        """Seconds an empty hook registers: the timing's own share of each measurement."""
        self.calls: collections.Counter = collections.Counter()
        empty = self._timed(lambda *args: None, "")
        for _ in range(20000):
            empty(None, None)
        cost = self.spent.pop("") / 20000
        self.calls.clear()
        return cost

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.steps += 1

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        HookTimer.runs.append({owner: max(seconds - self.calls[owner] * self.own_cost, 0.0) / max(self.steps, 1)
                               for owner, seconds in self.spent.items()})


class SyncCounter(pl.Callback):
    """Per training step: how many synchronising CUDA operations torch reports (with
    `torch.cuda.set_sync_debug_mode("warn")` each one is a warning, counted here and not shown),
    and whether the step logs (Lightning writes the logs after every `log_every_n_steps`-th
    optimizer step and at an epoch's last batch). A step counts from its `on_train_batch_start` to
    the next one. `SyncCounter.runs` gets one list of {step, logs, syncs} per fit. Without CUDA
    nothing is counted: a dry run of the counting."""

    runs: ClassVar[list[list[dict[str, Any]]]] = []
    MESSAGE = "synchroniz"  # torch: "called a synchronizing CUDA operation"

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import torch

        self.steps: list[dict[str, Any]] = []
        SyncCounter.runs.append(self.steps)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("always")  # every occurrence, not once per place
        shown = warnings.showwarning
        warnings.showwarning = lambda message, *args, **kwargs: self._count() if self.MESSAGE in str(message) else shown(message, *args, **kwargs)
        self.cuda = pl_module.device.type == "cuda"
        if self.cuda:
            torch.cuda.set_sync_debug_mode("warn")

    def _count(self) -> None:
        if self.steps:
            self.steps[-1]["syncs"] += 1

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        self.steps.append({"step": trainer.global_step + 1, "logs": None, "syncs": 0})

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        from lit_dl.internals import is_last_batch

        self.steps[-1]["logs"] = trainer.global_step % trainer.log_every_n_steps == 0 or is_last_batch(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import torch

        if self.cuda:
            torch.cuda.set_sync_debug_mode("default")
        self._warnings.__exit__(None, None, None)
