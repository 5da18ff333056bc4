"""A training step that does not log waits for nothing: no collective, no read of a tensor's value.

A 2-rank DDP fit (gloo, on the CPU) with every default on counts, per training step and on each
rank, two kinds of call:

- collectives: the functions of `torch.distributed` that every rank must join (`all_reduce`,
  `broadcast`, `barrier`, `all_gather`, ...), wrapped in `torch.distributed` and in
  `torch.distributed.distributed_c10d` (where they live; callers reach them through either).
  On GPUs each is a small NCCL operation the step has to wait for. DDP's own gradient all-reduce
  runs inside its C++ reducer, not through these functions, and is not counted: every loop pays it.
- host reads: the `torch.Tensor` methods that hand a tensor's value to Python (`item`, `tolist`,
  `cpu`, `numpy`, and `int()`, `float()`, `bool()` of a tensor, through `__int__`, `__float__`,
  `__bool__`). On a GPU each one waits for the device to finish all the work queued before it:
  the host can then no longer queue the next step ahead. Here the tensors are on the CPU, where
  the same calls are cheap, but the code paths are the GPU's, so counting them is the proxy.
  Reads made inside `torch.optim` are left out: an optimizer's step counters live on the CPU by
  design (outside `capturable`/`fused` mode), so a hand-written loop makes the same reads and
  they never wait for a device. `.to("cpu")` is not counted (it cannot be told apart from the many
  moves that stay on one device); `cpu()` is how Lightning and lit-dl move values to the host.

A step counts from its `on_train_batch_start` to the next one, so it includes Lightning's
logging after the batch, and an epoch's last step its validation and checkpoints. Steps that log
(every `log_every_n_steps` optimizer steps and each epoch's last) may sync; every other step must
make none of these calls.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch

from lit_dl.internals import is_last_batch
from tests.helpers.paths import QUICKSTART
from tests.training.test_ddp import CPU_DDP
from tests.training.test_resume import lit_dl_process

COLLECTIVES = (
    "all_reduce", "broadcast", "barrier", "monitored_barrier", "all_gather", "all_gather_into_tensor",
    "all_gather_object", "reduce", "reduce_scatter", "reduce_scatter_tensor", "gather", "gather_object",
    "scatter", "scatter_object_list", "broadcast_object_list", "all_to_all", "all_to_all_single",
)
HOST_READS = ("item", "tolist", "cpu", "numpy", "__int__", "__float__", "__bool__")
LOG_EVERY, PER_RANK_STEPS, EPOCHS = 5, 12, 2


class CountHostSyncs(pl.Callback):
    """Counts collectives and host reads per training step on this rank; writes them as JSON to
    `<out>/rank<N>.json` when training ends."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.steps: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self._inside = threading.local()

    # -- the wrappers ---------------------------------------------------------------------------
    def _record(self, kind: str, name: str, caller: str) -> None:
        if self._current is not None:
            self._current[kind].append(f"{name} from {caller}")

    def _wrap(self, function: Any, kind: str, name: str) -> Any:
        @functools.wraps(function)
        def counted(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._inside, "depth", 0):  # a collective built on another counts once
                return function(*args, **kwargs)
            frame = inspect.currentframe().f_back
            module = frame.f_globals.get("__name__", "?")
            if kind == "collectives" or not module.startswith("torch.optim"):
                self._record(kind, name, f"{module}:{frame.f_lineno}")
            self._inside.depth = 1
            try:
                return function(*args, **kwargs)
            finally:
                self._inside.depth = 0

        return counted

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        import torch.distributed as dist
        import torch.distributed.distributed_c10d as c10d

        for module in (dist, c10d):
            for name in COLLECTIVES:
                if hasattr(module, name):
                    setattr(module, name, self._wrap(getattr(module, name), "collectives", name))
        for name in HOST_READS:
            setattr(torch.Tensor, name, self._wrap(getattr(torch.Tensor, name), "reads", name))

    # -- the steps ------------------------------------------------------------------------------
    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        self._current = {"step": trainer.global_step + 1, "logs": None, "collectives": [], "reads": []}
        self.steps.append(self._current)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        # Lightning writes the logs after the batch of every log_every_n_steps-th optimizer step.
        self._current["logs"] = trainer.global_step % trainer.log_every_n_steps == 0 or is_last_batch(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._current = None
        Path(self.out, f"rank{trainer.global_rank}.json").write_text(json.dumps(self.steps))


# The default bar here is the plain epoch lines (the output is no terminal); on a terminal it is
# one of these, which update after every batch.
BARS = {"default": [], "rich": ["--trainer.callbacks+=lit_dl.training.progress.RichBar"],
        "tqdm": ["--trainer.callbacks+=lit_dl.training.progress.TQDMBar"]}


@pytest.mark.slow
@pytest.mark.parametrize("bar", BARS)
def test_a_ddp_step_that_does_not_log_makes_no_collective_and_reads_no_tensor(bar, tmp_path):
    counts = tmp_path / "counts"
    counts.mkdir()

    done = lit_dl_process(
        "fit", "--config", QUICKSTART, *CPU_DDP, "--trainer.default_root_dir", tmp_path / "runs",
        "--trainer.max_epochs", str(EPOCHS), "--data.init_args.n_train", str(2 * 64 * PER_RANK_STEPS),
        "--data.init_args.n_val", "256", "--data.init_args.n_test", "256",
        "--trainer.log_every_n_steps", str(LOG_EVERY), "--test_after_fit", "false",
        "--trainer.callbacks+=tests.training.test_step_syncs.CountHostSyncs", "--trainer.callbacks.out", str(counts),
        *BARS[bar],
    )

    assert done.returncode == 0, done.stderr
    for rank in (0, 1):
        steps = json.loads((counts / f"rank{rank}.json").read_text())
        assert [s["step"] for s in steps] == list(range(1, EPOCHS * PER_RANK_STEPS + 1))
        quiet = [s for s in steps if not s["logs"]]
        assert len(quiet) >= EPOCHS * PER_RANK_STEPS // 2
        syncing = [s for s in quiet if s["collectives"] or s["reads"]]
        assert not syncing, f"rank {rank}: steps that do not log but sync:\n" + "\n".join(map(json.dumps, syncing))
        # The counter sees what it should: the steps that log do read their logged values.
        assert any(s["reads"] for s in steps if s["logs"]), steps
