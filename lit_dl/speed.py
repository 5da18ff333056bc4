"""Per-step costs that Lightning adds and a run does not need."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from typing import Any

from lightning.pytorch.profilers import PassThroughProfiler

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


# -- hook dispatch ----------------------------------------------------------------------------
# Lightning calls every hook through three functions of `lightning.pytorch.trainer.call`, a few
# dozen times per training step. For each call they format a debug message and a profiler action
# name (a callback's name includes the repr of its settings), enter the profiler's context, and
# call every callback, including the many that inherit the hook as `Callback`'s empty method.
# On a 0.5 ms step that is a fifth of the time. When the trainer's profiler is `NoProfiler` and
# debug logging is off, none of that has any effect, so the lean versions below skip it: the same
# hooks in the same order with the same arguments, minus the calls to empty base methods. Any
# other trainer (another profiler, debug logging on) goes through Lightning's own functions.

_LEAN_DISPATCH: dict[str, Any] = {}  # name in lightning.pytorch.trainer.call -> Lightning's function
_EXPECTED_PARAMETERS = {
    "_call_callback_hooks": ["trainer", "hook_name", "args", "monitoring_callbacks", "kwargs"],
    "_call_lightning_module_hook": ["trainer", "hook_name", "args", "pl_module", "kwargs"],
    "_call_strategy_hook": ["trainer", "hook_name", "args", "kwargs"],
}


def install_lean_hook_dispatch() -> bool:
    """Route Lightning's hook calls through the lean dispatchers; idempotent.

    Returns False, changing nothing, when this Lightning's dispatchers are not the ones the lean
    versions were written against (then every run keeps Lightning's own)."""
    import inspect

    from lightning.pytorch.trainer import call

    if _LEAN_DISPATCH:
        return True
    originals = {name: getattr(call, name, None) for name in _EXPECTED_PARAMETERS}
    for name, function in originals.items():
        if not callable(function) or list(inspect.signature(function).parameters) != _EXPECTED_PARAMETERS[name]:
            return False
    _LEAN_DISPATCH.update(originals)
    call._call_callback_hooks = _call_callback_hooks
    call._call_lightning_module_hook = _call_lightning_module_hook
    call._call_strategy_hook = _call_strategy_hook
    return True


def uninstall_lean_hook_dispatch() -> None:
    from lightning.pytorch.trainer import call

    for name, function in _LEAN_DISPATCH.items():
        setattr(call, name, function)
    _LEAN_DISPATCH.clear()


def _lean(trainer: Any) -> bool:
    return isinstance(trainer.profiler, NoProfiler) and not _call_log().isEnabledFor(logging.DEBUG)


@functools.cache
def _call_log() -> logging.Logger:
    from lightning.pytorch.trainer import call

    return call.log


@functools.cache
def _monitoring_callback_types() -> tuple[type, ...]:
    from lightning.pytorch.callbacks import Checkpoint, EarlyStopping

    return (EarlyStopping, Checkpoint)


@functools.cache
def _inherits_empty_hook(callback_type: type, hook_name: str) -> bool:
    """Whether `callback_type`'s hook is `Callback`'s own method, whose body is empty."""
    from lightning.pytorch.callbacks import Callback

    base = Callback.__dict__.get(hook_name)
    return base is not None and getattr(callback_type, hook_name, None) is base


def _call_callback_hooks(trainer: Any, hook_name: str, *args: Any, monitoring_callbacks: bool | None = None, **kwargs: Any) -> None:
    if not _lean(trainer):
        return _LEAN_DISPATCH["_call_callback_hooks"](trainer, hook_name, *args, monitoring_callbacks=monitoring_callbacks, **kwargs)
    pl_module = trainer.lightning_module
    if pl_module:
        previous_fx_name = pl_module._current_fx_name
        pl_module._current_fx_name = hook_name
    callbacks = trainer.callbacks
    if monitoring_callbacks is not None:
        monitoring = _monitoring_callback_types()
        callbacks = [c for c in callbacks if isinstance(c, monitoring) == monitoring_callbacks]
    for callback in callbacks:
        if _inherits_empty_hook(type(callback), hook_name) and hook_name not in getattr(callback, "__dict__", ()):
            continue
        fn = getattr(callback, hook_name)
        if callable(fn):
            fn(trainer, pl_module, *args, **kwargs)
    if pl_module:
        pl_module._current_fx_name = previous_fx_name


def _call_lightning_module_hook(trainer: Any, hook_name: str, *args: Any, pl_module: Any = None, **kwargs: Any) -> Any:
    if not _lean(trainer):
        return _LEAN_DISPATCH["_call_lightning_module_hook"](trainer, hook_name, *args, pl_module=pl_module, **kwargs)
    pl_module = pl_module or trainer.lightning_module
    if pl_module is None:
        raise TypeError("No `LightningModule` is available to call hooks on.")
    fn = getattr(pl_module, hook_name)
    if not callable(fn):
        return None
    previous_fx_name = pl_module._current_fx_name
    pl_module._current_fx_name = hook_name
    output = fn(*args, **kwargs)
    pl_module._current_fx_name = previous_fx_name
    return output


def _call_strategy_hook(trainer: Any, hook_name: str, *args: Any, **kwargs: Any) -> Any:
    if not _lean(trainer):
        return _LEAN_DISPATCH["_call_strategy_hook"](trainer, hook_name, *args, **kwargs)
    strategy = trainer.strategy
    pl_module = strategy.lightning_module
    previous_fx_name = pl_module._current_fx_name
    pl_module._current_fx_name = hook_name
    fn = getattr(strategy, hook_name)
    if not callable(fn):
        return None
    output = fn(*args, **kwargs)
    pl_module._current_fx_name = previous_fx_name
    return output
