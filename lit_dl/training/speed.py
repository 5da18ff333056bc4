"""Per-step costs that Lightning adds and a run does not need (see benchmarks/)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from lightning.pytorch.profilers import PassThroughProfiler

from lit_dl import internals

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


class NoProfiler(PassThroughProfiler):
    """Lightning's `PassThroughProfiler` (records nothing) whose `profile` context is one
    shared `contextlib.nullcontext` instead of a new generator-based context per call."""

    _nothing = contextlib.nullcontext()

    def profile(self, action_name: str) -> contextlib.AbstractContextManager:
        return self._nothing


def restore_cuda_check(user_value: str | None, uses_cuda: bool) -> None:
    """Give back the user's `PYTORCH_NVML_BASED_CUDA_CHECK` once the trainer has its devices.

    `import lightning` sets it to 1 so that its own CUDA probe cannot poison a later fork. Until
    CUDA is initialised, torch then answers every `torch.cuda.is_available()` by loading NVML
    (about 40-100 us), and Adam/AdamW ask on every `step()`: a CPU run pays that on every
    optimizer step. A run that uses CUDA initialises it and torch caches the answer, so only
    runs without CUDA get the variable back as the user had it.
    """
    if uses_cuda or os.environ.get(NVML_CHECK) != "1":
        return
    if user_value is None:
        del os.environ[NVML_CHECK]
    else:
        os.environ[NVML_CHECK] = user_value


def skip_unused_hooks(trainer: Any) -> None:
    """lit-dl's own callbacks leave Lightning nothing to call for the per-batch hooks they do not
    override (`internals.skip_unused_batch_hooks`); a user's callback stays as it is."""
    for callback in trainer.callbacks:
        if type(callback).__module__.startswith("lit_dl."):
            internals.skip_unused_batch_hooks(callback)
