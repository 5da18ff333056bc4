"""The one door to other libraries' internals: every private attribute of Lightning, torch,
torchmetrics, jsonargparse or wandb that lit-dl reads or writes is touched here and nowhere else
(tests/test_layout.py checks it), one small function per use.

Each function says why no public API serves and the versions it was tested with;
tests/test_internals.py calls every one of them against the installed libraries, so an upgrade
that moves an internal fails there, naming the function, instead of deep inside a run.
CONTRIBUTING.md's list of private uses is checked against this module.

Imports nothing at module level: every layer may use it (nets excepted, which never need it).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

TESTED = "torch 2.14.1, lightning 2.6.0-2.6.6, torchmetrics 1.3.2-1.9.0, jsonargparse 4.51-4.53, wandb 0.31"


# -- Lightning's Trainer and loops ----------------------------------------------------------------
def request_stop(trainer: Any) -> bool:
    """Raise Lightning's own stop flag, so that its batch-boundary checks stop the fit with a
    `SIGTERMException` at the same batch on every rank. False when the flag is gone.

    Why private: `Trainer.received_sigterm` is read-only and `Trainer.should_stop` ends the fit as
    if it had finished (no exception, so no stop checkpoint and no interrupted status)."""
    connector = getattr(trainer, "_signal_connector", None)
    if connector is None or not hasattr(connector, "received_sigterm"):
        return False
    connector.received_sigterm = True
    return True


def is_last_batch(trainer: Any) -> bool:
    """Whether the training batch being run is the epoch's last.

    Why private: the training epoch loop (`_TrainingEpochLoop`) and its progress tracker are
    internal; no public Trainer property says it, and the batch count cannot (iterable datasets)."""
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def batches_started(trainer: Any) -> int:
    """How many training batches this fit has fetched, resumed ones included.

    Why private: same loop progress tracker as `is_last_batch`; `global_step` counts optimizer
    steps, which stay 0 while the first accumulated batches run."""
    return int(trainer.fit_loop.epoch_loop.batch_progress.total.ready)


def skip_per_step_stop_broadcast(trainer: Any) -> bool:
    """Turn off the broadcast of rank zero's SIGTERM flag that Lightning makes before every
    training batch under DDP (a collective and a host read per step); False when there is none.
    Only for a fit whose ranks already agree on stopping otherwise (`StopOnSignal`).

    Why private: Lightning 2.5.2+ calls `_TrainingEpochLoop._broadcast_sigterm_tensor` from
    `advance` with no switch (Lightning-AI/pytorch-lightning#20825; the overhead is #21487, an
    every-n-steps option is proposed in #21640); the instance attribute shadows the method."""
    loop = trainer.fit_loop.epoch_loop
    if not callable(getattr(loop, "_broadcast_sigterm_tensor", None)):
        return False
    loop._broadcast_sigterm_tensor = _nothing
    return True


def _nothing() -> None:
    return None


# The hooks Lightning calls on every callback at every batch.
BATCH_HOOKS = (
    "on_train_batch_start", "on_train_batch_end", "on_before_backward", "on_after_backward", "on_before_optimizer_step",
    "on_before_zero_grad", "on_validation_batch_start", "on_validation_batch_end", "on_test_batch_start",
    "on_test_batch_end", "on_predict_batch_start", "on_predict_batch_end",
)


def skip_unused_batch_hooks(callback: Any) -> list[str]:
    """Set to None, on this callback object, each per-batch hook its class leaves as
    `Callback`'s (which does nothing), so that Lightning does not call it; returns their names.

    Why internal: Lightning 2.6 calls every callback's every hook at every batch
    (`trainer/call.py`, `_call_callback_hooks`), also the ones that do nothing: about 1.3 us each
    (the profiler's context, the action name it formats, the call), some 50 a training step for
    lit-dl's ten callbacks. That loop skips an attribute that is not callable; no public switch
    says "this callback has no such hook". A class that overrides a hook keeps it, and so does
    any caller that reaches it through the class (`super().on_train_batch_end(...)`)."""
    from lightning.pytorch.callbacks import Callback

    skipped = [name for name in BATCH_HOOKS if getattr(type(callback), name, None) is getattr(Callback, name)]
    for name in skipped:
        setattr(callback, name, None)
    return skipped


def attached_trainer(module: Any) -> Any:
    """The Trainer a LightningModule is attached to, or None.

    Why private: `LightningModule.trainer` raises when no trainer is attached (a task used on its
    own, or loaded for export); `_trainer` is the attribute behind it."""
    return getattr(module, "_trainer", None)


# -- Lightning's checkpoint layout ----------------------------------------------------------------
def saved_loader_states(checkpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The training loaders' positions a checkpoint holds.

    Why private: the `loops` entry of a checkpoint is Lightning's internal record of its loops;
    Lightning reads it only inside `_FitLoop.load_state_dict`."""
    fit_loop = (checkpoint.get("loops") or {}).get("fit_loop") or {}
    return list((fit_loop.get("state_dict") or {}).get("combined_loader") or [])


def saved_epochs_done(checkpoint: dict[str, Any]) -> int | None:
    """How many epochs a checkpoint's fit had processed (its validation included), or None.

    Why private: as `saved_loader_states`; the public `epoch` entry counts the epoch the save
    happened in, which is one less at an epoch's end and the same mid-epoch."""
    try:
        return int(checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError, ValueError):
        return None


# -- Lightning's LightningCLI -------------------------------------------------------------------
def subcommand_parser(cli: Any, subcommand: str | None) -> Any:
    """The parser of one LightningCLI subcommand (the whole parser without one).

    Why private: `LightningCLI._parser` is the only accessor; `cli.parser` is the top parser."""
    return cli._parser(subcommand)


def dump_config_with_init_args(cli: Any) -> None:
    """Make LightningCLI's dump of the config (which Lightning records as the model's and data's
    hyperparameters) give every `class_path` an `init_args`, before the classes are built.

    Why private: LightningCLI builds the dump in `_dump_config` (cached as `config_dump`) and
    has no hook for it; jsonargparse dumps a class whose only arguments are linked from the data
    (Perceptron) without `init_args`, and Lightning then fails to build it from that record."""
    cli._dump_config()
    _give_init_args(cli.config_dump)


def _give_init_args(node: Any) -> None:
    if isinstance(node, dict):
        if "class_path" in node:
            node.setdefault("init_args", {})
        for value in node.values():
            _give_init_args(value)
    elif isinstance(node, list):
        for value in node:
            _give_init_args(value)


# -- Lightning's loggers --------------------------------------------------------------------------
def wandb_init_arguments(logger: Any) -> dict[str, Any]:
    """The keyword arguments a WandbLogger will hand `wandb.init` (a live dict: edits count).

    Why private: WandbLogger keeps them in `_wandb_init` and offers no getter; lit-dl drops an
    `anonymous=None` wandb >= 0.19 warns about, and reads the config it was given."""
    return logger._wandb_init


def logger_prefix(logger: Any) -> str:
    """The prefix a Lightning logger puts before every metric name ("" for none).

    Why private: stored as `_prefix` by each logger; not exposed."""
    return getattr(logger, "_prefix", "") or ""


def wandb_run_started(logger: Any) -> bool:
    """Whether a WandbLogger has started its W&B run (without starting one).

    Why private: the public `experiment` property starts a run when none exists."""
    return getattr(logger, "_experiment", None) is not None


def wandb_logs_model(logger: Any) -> bool:
    """The WandbLogger's `log_model` setting (whether it uploads checkpoints as artifacts).

    Why private: stored as `_log_model`, with no getter."""
    return bool(getattr(logger, "_log_model", False))


# -- Lightning's weight averaging -------------------------------------------------------------------
def averaged_module(callback: Any) -> Any:
    """The averaged copy of the task a `WeightAveraging` callback keeps (None before fit).

    Why private: `WeightAveraging` keeps its `AveragedModel` in `_average_model` with no getter."""
    average = getattr(callback, "_average_model", None)
    return average.module if average is not None else None


# -- torchmetrics ---------------------------------------------------------------------------------
def restore_update_count(metric: Any, count: int) -> None:
    """Give a metric whose states were restored by hand the update count they were saved with.

    Why private: torchmetrics has no public setter for `_update_count` (it warns about computing
    before any update when it is 0), and `_computed` caches a value of the old states."""
    metric._update_count = count
    metric._computed = None


# -- torch ----------------------------------------------------------------------------------------
def forget_cached_rnn_kernels() -> None:
    """Clear the operator dispatch caches of `aten.lstm.input` and `aten.gru.input` (private:
    `OpOverload._dispatch_cache`).

    Why: given dynamic shapes, `torch.onnx.export` swaps in while-loop decompositions of LSTM and
    GRU (`torch.export._patches.register_*_while_loop_decomposition`) that keep a sequence's
    length free, by writing `op.py_kernels` directly; unlike `py_impl`, that leaves the operator's
    dispatch cache holding the kernel of the previous export. From the second ONNX export of an
    LSTM (or GRU) in one process on, the recurrence is unrolled and the file's length fixed. No
    public API clears an operator's cache (`torch.compiler.reset()` does not). Measured with three
    exports of one LSTM in a process: free, fixed, fixed; with this call before each: free every
    time. Tested with torch 2.14.1; a torch without the attribute is left alone.
    """
    import torch

    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input):
        cache = getattr(op, "_dispatch_cache", None)
        if cache is not None:
            cache.clear()


# -- jsonargparse -----------------------------------------------------------------------------------
def option_names(parser: Any) -> list[str]:
    """The destinations of every option of one (jsonargparse or argparse) parser.

    Why private: argparse keeps its actions in `_actions` and offers no public list of them."""
    return [action.dest for action in getattr(parser, "_actions", []) if action.dest]


def subcommand_parsers(parser: Any) -> dict[str, Any]:
    """A jsonargparse parser's subcommand parsers by name ({} when it has none).

    Why private: jsonargparse records the subcommands action in `_subcommands_action`; its
    public `subcommands` argument is write-only."""
    action = getattr(parser, "_subcommands_action", None)
    return dict(getattr(action, "_name_parser_map", {}) or {}) if action is not None else {}


def unwrap_callable(factory: Any) -> tuple[dict[str, Any], Any]:
    """The keywords already bound and the class behind a callable argument from the config.

    Why internal: jsonargparse hands a callable-typed argument (optimizer, scheduler) over as
    `functools.partial(<its helper>, <instantiator>, TheClass, **init_args)`; that layout is
    its own. A plain class or function stands for itself."""
    if isinstance(factory, functools.partial):
        target = next((a for a in factory.args if inspect.isclass(a)), factory.func)
        return dict(factory.keywords), target
    return {}, factory


PRIVATE_USES = {
    "request_stop": "Trainer._signal_connector.received_sigterm (written)",
    "is_last_batch": "Trainer.fit_loop.epoch_loop.batch_progress.is_last_batch",
    "batches_started": "Trainer.fit_loop.epoch_loop.batch_progress.total.ready",
    "skip_per_step_stop_broadcast": "_TrainingEpochLoop._broadcast_sigterm_tensor (shadowed)",
    "skip_unused_batch_hooks": "_call_callback_hooks skips a hook that is not callable (unused ones set to None)",
    "attached_trainer": "LightningModule._trainer",
    "saved_loader_states": "checkpoint['loops']['fit_loop']['state_dict']['combined_loader']",
    "saved_epochs_done": "checkpoint['loops']['fit_loop']['epoch_progress']",
    "subcommand_parser": "LightningCLI._parser",
    "dump_config_with_init_args": "LightningCLI._dump_config (called ahead of Lightning; its cache config_dump)",
    "wandb_init_arguments": "WandbLogger._wandb_init",
    "logger_prefix": "Logger._prefix",
    "wandb_run_started": "WandbLogger._experiment",
    "wandb_logs_model": "WandbLogger._log_model",
    "averaged_module": "WeightAveraging._average_model",
    "restore_update_count": "torchmetrics.Metric._update_count, _computed (written)",
    "forget_cached_rnn_kernels": "torch OpOverload._dispatch_cache of aten.lstm/aten.gru (cleared before an ONNX export)",
    "option_names": "argparse.ArgumentParser._actions",
    "subcommand_parsers": "jsonargparse ArgumentParser._subcommands_action._name_parser_map",
    "unwrap_callable": "jsonargparse's functools.partial layout of callable arguments",
}
