"""Checks of a command's options before anything is built or written: options out of range
(lr-find's too), a fit that would train nothing, callbacks given twice, metrics that callbacks
monitor but the task never logs, no room on the disk. (The files themselves: config_files.py.)
Each failure is one UserError naming the option and its valid range or fix."""

from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lit_dl.errors import UserError

SEED_RANGE = (0, 2**32 - 1)  # what numpy's seeding accepts
# Optimizer and scheduler arguments that are never negative.
NON_NEGATIVE = ("lr", "max_lr", "base_lr", "min_lr", "eta_min", "weight_decay", "momentum", "eps")


def check_options(command: str, config: Any) -> None:
    """Options out of range, before anything is built: one line naming the option and its range."""
    for section, example in (("model", "lit_dl.tasks.Classifier"), ("data", "lit_dl.data.ArrayDataModule")):
        if config.get(section) is None:
            raise UserError(f"no {section} given: add a '{section}:' section to the config (class_path: {example}, ...) or pass --{section}")
    _check_seed(config.get("seed_everything"))
    trainer = config.get("trainer") or {}
    _check_trainer(command, trainer)
    checkpoint = config.get("checkpoint") or {}
    mode = checkpoint.get("mode")
    if mode not in (None, "min", "max"):
        raise UserError(f"--checkpoint.mode {mode!r} is not valid; use min (lower is better, losses) or max (accuracies)")
    _at_least(checkpoint, "checkpoint.save_top_k", -1)
    _at_least(checkpoint, "checkpoint.every_n_epochs", 0)
    _at_least(checkpoint, "checkpoint.every_n_train_steps", 0)
    model = _init_args(config.get("model"))
    for part in ("optimizer", "scheduler"):
        arguments = _init_args(model.get(part))
        for key in NON_NEGATIVE:
            value = arguments.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise UserError(f"--model.init_args.{part}.init_args.{key} is {value}; it must be 0 or more")
    data = _init_args(config.get("data"))
    for key in ("batch_size", "eval_batch_size"):
        _at_least(data, f"data.init_args.{key}", 1, key=key)
    if command == "lr_find":
        _check_lr_search(config)


def _check_seed(seed: Any) -> None:
    if isinstance(seed, int) and not isinstance(seed, bool) and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise UserError(f"--seed_everything {seed} is out of range; use a seed from {SEED_RANGE[0]} to {SEED_RANGE[1]}")


def _check_trainer(command: str, trainer: Mapping[str, Any]) -> None:
    if command == "fit":
        nothing = "trains nothing and would record an untrained model as a finished run"
        for key in ("max_epochs", "max_steps", "limit_train_batches"):
            if _number(trainer.get(key)) == 0:
                raise UserError(f"--trainer.{key} {trainer.get(key)} {nothing}; use at least 1")
    _at_least(trainer, "trainer.max_epochs", -1)
    _at_least(trainer, "trainer.accumulate_grad_batches", 1)
    _at_least(trainer, "trainer.check_val_every_n_epoch", 1)
    _at_least(trainer, "trainer.num_sanity_val_steps", -1)
    _at_least(trainer, "trainer.log_every_n_steps", 1)
    _at_least(trainer, "trainer.num_nodes", 1)
    _at_least(trainer, "trainer.gradient_clip_val", 0)
    max_time = trainer.get("max_time")
    if isinstance(max_time, str) and not re.fullmatch(r"\d+:\d{1,2}:\d{1,2}:\d{1,2}", max_time.strip()):
        raise UserError(f"--trainer.max_time {max_time!r} is not a duration; use DD:HH:MM:SS, e.g. 00:12:00:00 for twelve hours")
    interval = _number(trainer.get("val_check_interval"))
    if interval is not None and interval <= 0:
        raise UserError(
            f"--trainer.val_check_interval {trainer.get('val_check_interval')} is not valid; use a fraction of the "
            "epoch in (0, 1] or a number of training batches of at least 1"
        )


def _check_lr_search(config: Mapping[str, Any]) -> None:
    """lr-find's range, before its first step: rates to climb through, enough of them to suggest one."""
    from lit_dl.cli.lr_find import FEWEST_RATES, SKIP_FIRST, SKIP_LAST

    low, high, mode = _number(config.get("min_lr")), _number(config.get("max_lr")), config.get("mode")
    if low is not None and (low < 0 or (low == 0 and mode != "linear")):
        why = "the exponential search multiplies it, so it must be above 0" if low == 0 else "a rate is never negative"
        raise UserError(f"--min_lr {config.get('min_lr')}: {why}; use a small rate such as 1e-8")
    if low is not None and high is not None and high <= low:
        raise UserError(
            f"--max_lr {config.get('max_lr')} is not above --min_lr {config.get('min_lr')}: the search raises the rate "
            "from --min_lr to --max_lr; give a wider range such as --min_lr 1e-8 --max_lr 1"
        )
    count = _number(config.get("num_training"))
    if count is not None and count < FEWEST_RATES:
        raise UserError(
            f"--num_training {config.get('num_training')} tries too few rates: the first {SKIP_FIRST} and the last "
            f"{'' if SKIP_LAST == 1 else f'{SKIP_LAST} '}are not candidates; use at least {FEWEST_RATES} (default 100)"
        )
    threshold = _number(config.get("early_stop_threshold"))
    if threshold is not None and threshold <= 1:
        raise UserError(
            f"--early_stop_threshold {config.get('early_stop_threshold')} would stop the search as soon as the loss "
            "rises above its best; use more than 1 (default 4), or null to try every rate"
        )


def _at_least(section: Mapping[str, Any], option: str, minimum: int, key: str | None = None) -> None:
    value = _number(section.get(key or option.rsplit(".", 1)[-1]))
    if value is not None and value < minimum:
        raise UserError(f"--{option} is {section.get(key or option.rsplit('.', 1)[-1])}; it must be at least {minimum}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _init_args(node: Any) -> Mapping[str, Any]:
    """The `init_args` of a class given in the config, or {}."""
    if node is None or not hasattr(node, "get"):
        return {}
    return node.get("init_args") or {}


# -- monitored metrics --------------------------------------------------------------------------
# Logged by the default callbacks, whatever the task: the learning rate and gradient norms.
CALLBACK_METRIC_PREFIXES = ("lr-", "grad_norm/")


def check_monitors(task: Any, monitors: Iterable[tuple[str, str]]) -> None:
    """Every (who, metric) a fit follows must be a metric the task logs during fit.

    A task declares what it logs with `metric_names()`; one that does not is not checked."""
    names = getattr(task, "metric_names", None)
    if names is None:
        return
    logged = sorted(name for name in names() if not name.startswith("test/"))
    for who, metric in monitors:
        if not metric or metric in logged or metric.startswith(CALLBACK_METRIC_PREFIXES):
            continue
        from lit_dl.cli.explain import closest

        hint = closest(metric, logged)
        if metric.startswith("test/"):
            why = "test metrics are computed only after fit"
        else:
            why = f"{type(task).__name__} never logs it"
        fix = f"did you mean '{hint}'? " if hint else ""
        raise UserError(f"{who} monitors '{metric}' but {why}; {fix}it logs {', '.join(logged)}")


# -- callbacks ----------------------------------------------------------------------------------
def check_callbacks(callbacks: Iterable[Any]) -> None:
    """Two callbacks that would keep their state under one key in a checkpoint (two EMAs, two
    identical ModelCheckpoints): Lightning refuses them with a traceback when the trainer is built."""
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.utilities.model_helpers import is_overridden

    seen: dict[str, Any] = {}
    for callback in callbacks:
        if not isinstance(callback, Callback) or not is_overridden("state_dict", instance=callback, parent=Callback):
            continue
        if callback.state_key in seen:
            name = type(callback).__name__
            raise UserError(
                f"--trainer.callbacks holds {name} twice, and the two would share one record in the checkpoint "
                f"({callback.state_key}); keep one {name} (in the config files and --trainer.callbacks+=)"
            )
        seen[callback.state_key] = callback


# -- linked options -------------------------------------------------------------------------
def check_links(config: Any, links: Iterable[tuple[str, str]]) -> None:
    """An option the CLI fills from the data (a net's input_shape, num_outputs) must not be typed:
    the data's value would silently win."""
    for source, target in links:
        *owner_keys, key = target.split(".")
        owner = config
        for part in owner_keys[:-1]:
            owner = owner.get(part) if hasattr(owner, "get") else None
        if not hasattr(owner, "get") or owner.get("class_path") is None:
            continue
        value = (owner.get("init_args") or {}).get(key)
        if value is not None and value != _default(owner.get("class_path"), key):
            raise UserError(f"--{target} is filled in from the data ({source}); remove it from the command line and config files")


def _default(class_path: str, parameter: str) -> Any:
    import importlib

    module, _, name = str(class_path).rpartition(".")
    try:
        klass = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    for owner in getattr(klass, "__mro__", ()):  # a subclass may pass it on through **kwargs
        try:
            found = inspect.signature(owner.__init__).parameters.get(parameter)
        except (ValueError, TypeError):
            continue
        if found is not None:
            return None if found.default is inspect.Parameter.empty else found.default
    return None


# -- room to write ------------------------------------------------------------------------------
def check_room_for(model: Any, run_dir: Path, resumed: Path | None) -> None:
    """Room for a fit's checkpoints: three times the weights' bytes (weights, optimizer state,
    a temporary copy while saving), or the size of the checkpoint it resumes."""
    needed = 3 * sum(p.numel() * p.element_size() for p in model.parameters()) + (1 << 16)
    if resumed is not None:
        needed = max(needed, resumed.stat().st_size)
    check_room(run_dir if run_dir.is_dir() else run_dir.parent, needed)


def check_room(run_dir: Path, needed: int) -> None:
    """Before a fit spends time: the run directory is writable and its disk has `needed` bytes."""
    import errno
    import shutil

    if not os.access(run_dir, os.W_OK):
        # The failed write's errno (read-only filesystem, permission) is what the user needs.
        probe = run_dir / f".write-probe-{os.getpid()}"
        try:
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(run_dir)) from None
    if shutil.disk_usage(run_dir).free < needed:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run_dir))


# -- a resume that trains nothing ---------------------------------------------------------------
def check_resume_trains(checkpoint: Path, trainer: Mapping[str, Any], status: str | None = None) -> None:
    """Continuing a run that already has all its epochs (or steps) would train nothing. A run
    that trained them all but stopped before its record was complete (`status` running or
    interrupted: killed during the test after fit) may resume: it finishes that record."""
    if status in ("running", "interrupted"):
        return
    import torch

    try:
        saved = torch.load(checkpoint, map_location="cpu", mmap=True, weights_only=False)
        steps = int(saved.get("global_step", 0))
    except Exception:  # noqa: BLE001  an unusual checkpoint: Lightning decides
        return
    from lit_dl.internals import saved_epochs_done

    progress = saved_epochs_done(saved)
    if progress is None:
        return
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps")
    epochs_done = max_epochs is not None and max_epochs >= 0 and progress >= max_epochs
    steps_done = max_steps is None or max_steps < 0 or steps >= max_steps
    if epochs_done and steps_done:
        raise UserError(
            f"{checkpoint} has already trained {progress} epochs, as many as --trainer.max_epochs {max_epochs}; "
            "raise --trainer.max_epochs to continue the run"
        )


def check_parsed(config: Any, subcommand: str, links: Iterable[tuple[str, str]]) -> None:
    """The checks of a parsed command line: options in range, no linked option typed, and a
    readable checkpoint (before LightningCLI reads its hyperparameters)."""
    check_options(subcommand, config)
    check_links(config, links)
    ckpt_path = config.get("ckpt_path")
    if ckpt_path and Path(ckpt_path).is_file():
        from lit_dl.training.checkpoint_io import check_readable

        check_readable(ckpt_path)
