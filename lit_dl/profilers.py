"""A cheaper stand-in for Lightning's do-nothing profiler."""

from __future__ import annotations

import contextlib

from lightning.pytorch.profilers import PassThroughProfiler


class NoProfiler(PassThroughProfiler):
    """Lightning's `PassThroughProfiler` (records nothing) whose `profile` context is one
    shared `contextlib.nullcontext` instead of a new generator-based context per call."""

    _nothing = contextlib.nullcontext()

    def profile(self, action_name: str) -> contextlib.AbstractContextManager:
        return self._nothing
