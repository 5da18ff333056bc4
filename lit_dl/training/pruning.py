"""Pruning a sweep's trial: report the sweep's metric to its Optuna trial at each validation, and
stop the run when the study's pruner says so.

`lit-dl sweep` adds `SweepPruning` to each trial's `lit-dl fit`
(`--trainer.callbacks+={"class_path": "lit_dl.training.pruning.SweepPruning", ...}`) and names the
trial in the environment variable `LIT_DL_SWEEP_TRIAL` (the study's journal file, its name, the
trial's number and the pruner), not in the config: so the trials' config.yaml files differ only
by the swept values, and a config.yaml rerun outside the sweep trains as usual (the callback,
with no trial named, does nothing).

The decision is taken after a validation, on rank zero, and shared with every rank; the run
stops at the end of that training epoch, after its checkpoints are written (as EarlyStopping
stops a run), and then raises `RunPruned`. The run's status becomes `pruned`, with the epochs it trained.
"""

from __future__ import annotations

import json
import math
import os
import socket
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from lit_dl.errors import RunPruned, UserError

TRIAL_ENV = "LIT_DL_SWEEP_TRIAL"


class SweepPruning(Callback):
    """Reports `monitor` after each validation to the sweep's trial; stops a pruned run."""

    def __init__(self, monitor: str = "val/loss") -> None:
        self.monitor = monitor
        self._trial: Any = None
        self._pruned: tuple[int, float] | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        named = os.environ.get(TRIAL_ENV)
        if stage != "fit" or not named or not trainer.is_global_zero:
            return
        self._trial = open_trial(json.loads(named))
        if self._trial is not None and trainer.log_dir:
            # Where a retry of the trial continues this run, once this process has ended.
            self._trial.set_user_attr("run_dir", os.path.abspath(trainer.log_dir))
            self._trial.set_user_attr("fit_pid", f"{socket.gethostname()}:{os.getpid()}")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or os.environ.get(TRIAL_ENV) is None:
            return
        pruned = self._report(trainer) if self._trial is not None else None
        pruned = trainer.strategy.broadcast(pruned, src=0)
        if pruned is not None and self._pruned is None:
            # Stop as EarlyStopping does: this epoch ends and its checkpoints are written first.
            self._pruned = pruned
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pruned is None:
            return
        epochs, value = self._pruned[0], self._pruned[1]
        epochs = max(epochs, trainer.current_epoch)  # the epochs it trained (min_epochs may hold a stop)
        run_dir = os.path.abspath(trainer.log_dir) if trainer.log_dir else None
        raise RunPruned(f"pruned by the sweep after epoch {epochs}: {self.monitor} {value:.4g}", epoch=epochs, run_dir=run_dir)

    def _report(self, trainer: pl.Trainer) -> tuple[int, float] | None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            raise UserError(f"the sweep's metric {self.monitor} is not logged; set the sweep file's metric.name to a logged metric such as val/loss")
        value = float(value)
        epochs = trainer.current_epoch + 1  # the epochs trained so far: the pruner's resource
        if not math.isfinite(value):
            return epochs, value
        self._trial.report(value, epochs)
        return (epochs, value) if self._trial.should_prune() else None


def open_trial(named: dict[str, Any]) -> Any:
    """The running Optuna trial `named` ({journal, study, trial, pruner}); None when it has finished
    (a trial's config rerun by hand after its sweep)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner_name, pruner_args = named.get("pruner") or ("NopPruner", {})
    study = optuna.load_study(
        study_name=named["study"],
        storage=JournalStorage(JournalFileBackend(named["journal"])),
        sampler=optuna.samplers.RandomSampler(),  # samples nothing here: the sweep's worker does
        pruner=getattr(optuna.pruners, pruner_name)(**pruner_args),
    )
    # One study per journal file: a trial's storage id is its number.
    trial = optuna.trial.Trial(study, int(named["trial"]))
    if trial.number != int(named["trial"]):
        raise RuntimeError(f"trial {named['trial']} of {named['journal']} has storage id {trial.number}")
    frozen = study.get_trials(deepcopy=False)[trial.number]
    return trial if frozen.state == optuna.trial.TrialState.RUNNING else None
