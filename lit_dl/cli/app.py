"""`LitDLCLI`: LightningCLI with the data-to-net links, the run directory, the default callbacks
and the run's record (config.yaml, results.json).

Where each step happens, in LightningCLI's order:
- `add_arguments_to_parser`: links, the `checkpoint` and `defaults` sections, `--name`;
- `parse_arguments`: parse errors become one line; an unreadable `--ckpt_path` file too;
- `before_instantiate_classes`: `resolve_run` decides the run directory (lit_dl.run.plan);
- `instantiate_trainer`: loggers, callbacks and plugins aimed at that directory;
- `before_fit` / `after_fit` / `after_test` ...: the run's record (lit_dl.run.results).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from jsonargparse import ArgumentError, DefaultHelpFormatter
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.tuner import Tuner
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.model_helpers import is_overridden

import lit_dl.losses  # noqa: F401  (teaches jsonargparse to read class weights from YAML lists)
from lit_dl.cli import DESCRIPTION, USER_NVML_CUDA_CHECK, checks, explain
from lit_dl.cli.lr_find import FIGURE_FILE, LR_FIND, write_lr_find
from lit_dl.errors import TrainingDiverged, UserError
from lit_dl.plots import plot_confusion_matrix
from lit_dl.run import results as record
from lit_dl.run import slurm
from lit_dl.run.config import save_config
from lit_dl.run.csv_logger import RunCSVLogger
from lit_dl.run.environment import git_commit, package_versions
from lit_dl.run.layout import CHECKPOINTS, DEFAULT_ROOT_DIR, Reservation, next_version, reserve_version
from lit_dl.run.plan import RUN_DIR_ENV, Environment, RunPlan, RunRequest, resolve_run
from lit_dl.tasks.classifier import is_per_class_metric
from lit_dl.training import tracking
from lit_dl.training.checkpoint_io import check_checkpoint, check_readable
from lit_dl.training.defaults import RunDefaults
from lit_dl.training.signals import StopOnSignal
from lit_dl.training.speed import NoProfiler, restore_cuda_check

DATA_LINKS = (
    ("data.num_outputs", "model.init_args.num_outputs"),
    ("data.num_outputs", "model.init_args.net.init_args.num_outputs"),
    ("data.input_shape", "model.init_args.net.init_args.input_shape"),
    # Supervised becomes the task the data asks for; Classifier and Regressor check that they fit it.
    ("data.task", "model.init_args.task"),
)
CONFUSION_MATRIX_FIGURE = "confusion_matrix.png"  # of the fit's test
CHECKPOINT_DEFAULTS = {
    "checkpoint.monitor": "val/loss",
    "checkpoint.mode": "min",
    "checkpoint.filename": "best",
    "checkpoint.save_last": True,
    "checkpoint.auto_insert_metric_name": False,
    "checkpoint.enable_version_counter": False,  # the names best/last are fixed
}


class LitDLTrainer(Trainer):
    """Lightning's Trainer. LightningCLI builds each subcommand's flags from the trainer's method
    of that name: `fit` declares `test_after_fit` so that `fit` (and only `fit`) has that flag,
    and `lr_find` is the method behind `lit-dl lr-find`."""

    def fit(
        self,
        model: LightningModule,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        datamodule: Any = None,
        ckpt_path: str | None = None,
        test_after_fit: bool = True,
    ) -> None:
        """Train an experiment, then test its best checkpoint (--test_after_fit false: no test)."""
        super().fit(model, train_dataloaders, val_dataloaders, datamodule, ckpt_path)

    # Overridden for their one-line descriptions in `lit-dl --help` (LightningCLI reads the
    # docstring's first line), and so that evaluations print lit-dl's one `test:`/`val:` line
    # instead of Lightning's table (verbose false); each calls Lightning's own.
    def validate(
        self, model: Any = None, dataloaders: Any = None, ckpt_path: str | Path | None = None, verbose: bool = False,
        datamodule: Any = None, weights_only: bool | None = None,
    ) -> Any:
        """Evaluate a checkpoint on the validation set, recorded in its run."""
        return super().validate(model, dataloaders, ckpt_path, verbose, datamodule, weights_only)

    def test(
        self, model: Any = None, dataloaders: Any = None, ckpt_path: str | Path | None = None, verbose: bool = False,
        datamodule: Any = None, weights_only: bool | None = None,
    ) -> Any:
        """Evaluate a checkpoint on the test set, recorded in its run."""
        return super().test(model, dataloaders, ckpt_path, verbose, datamodule, weights_only)

    def predict(
        self, model: Any = None, dataloaders: Any = None, datamodule: Any = None, return_predictions: bool | None = None,
        ckpt_path: str | Path | None = None, weights_only: bool | None = None,
    ) -> Any:
        """Predict with a checkpoint; writes predictions.pt into its run."""
        return super().predict(model, dataloaders, datamodule, return_predictions, ckpt_path, weights_only)

    def lr_find(
        self,
        model: LightningModule,
        datamodule: Any = None,
        min_lr: float = 1e-8,
        max_lr: float = 1.0,
        num_training: int = 100,
        mode: Literal["exponential", "linear"] = "exponential",
        early_stop_threshold: float | None = 4.0,
    ) -> Any:
        """Suggest a learning rate: train briefly while raising it, and find where the loss falls fastest.

        Args:
            model: the task, as `fit` builds it.
            datamodule: the data, as `fit` builds it.
            min_lr: the first learning rate tried.
            max_lr: the last learning rate tried.
            num_training: how many rates (one training step each) to try; the search also
                ends with the trainer's max_epochs.
            mode: how the rate grows from step to step.
            early_stop_threshold: stop once the loss exceeds this many times its best value;
                null tries every rate.
        """
        return Tuner(self).lr_find(
            model, datamodule=datamodule, min_lr=min_lr, max_lr=max_lr, num_training=num_training,
            mode=mode, early_stop_threshold=early_stop_threshold, update_attr=False,
        )


# `lit-dl lr-find`'s own flags: the search's, not how a run is trained.
LR_FIND_FLAGS = tuple(inspect.signature(LitDLTrainer.lr_find).parameters)[3:]


class SaveConfigOnce(SaveConfigCallback):
    """config.yaml is written once, atomically, by the fit that creates the run; a resume, a
    `test` or a `predict` never rewrites it.

    It holds how the run was made, not how this command was called: without `fit`'s own flags
    (`ckpt_path`, `test_after_fit`) or `lr-find`'s, so that every subcommand reads it."""

    COMMAND_FLAGS = ("ckpt_path", "test_after_fit", "weights_only", *LR_FIND_FLAGS)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        log_dir = trainer.log_dir  # every rank asks: it is broadcast from rank zero
        if stage == "fit" and trainer.is_global_zero and log_dir:
            config = self.config.clone()
            for flag in self.COMMAND_FLAGS:
                if flag in config:
                    del config[flag]
            # Init args the DataModule resolved from the data (ArrayDataModule's `standardize: auto`
            # becomes the mode used, relabelled `classes`), so the file says and reruns what was used.
            for key, value in getattr(trainer.datamodule, "choices", {}).items():
                config[f"data.init_args.{key}"] = value
            save_config(Path(log_dir), self.parser.dump(config, skip_none=False, skip_check=True))


class _KeepLineBreaks(argparse.RawDescriptionHelpFormatter, DefaultHelpFormatter):
    """jsonargparse's help, with the description's command list kept on its lines."""


class LitDLCLI(LightningCLI):
    """LightningCLI that links data shapes into the net and owns the run directory."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        self.plan: RunPlan | None = None
        self.run_dir: Path | None = None
        self.reservation: Reservation | None = None
        self.records_status = False  # whether this process writes the run's status
        self.started = time.monotonic()
        no_exit = {"exit_on_error": False}
        # Lightning says `Seed set to N` as soon as the config parses, and more as the trainer is
        # built; an error found after that must come alone, so its lines and warnings wait until
        # the command is set up (`held_logs.release()` in the `before_<command>` hooks).
        self.held_logs = _HeldBack(LIGHTNING_LOGGERS)
        try:
            super().__init__(
                subclass_mode_model=True,
                subclass_mode_data=True,
                trainer_class=LitDLTrainer,
                save_config_callback=SaveConfigOnce,
                parser_kwargs={
                    **no_exit,
                    "description": DESCRIPTION,
                    "formatter_class": _KeepLineBreaks,
                    **{name: dict(no_exit) for name in self.subcommands()},
                },
                auto_configure_optimizers=False,
                args=args,
                run=run,
            )
        except SIGTERMException:
            self._record_end("interrupted")
            raise SystemExit(128 + self._stopping_signal()) from None
        except BaseException as error:
            if self.reservation is not None and not _has_started(self.reservation.run_dir):
                self.reservation.discard()  # a run that neither logged nor saved anything leaves nothing
            else:
                self._record_end("diverged" if isinstance(error, TrainingDiverged) else "failed", error)
            raise
        finally:
            self.held_logs.drop()

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """LightningCLI's subcommands and `lr_find` (typed `lit-dl lr-find`), with the method
        arguments the CLI fills itself."""
        return {**LightningCLI.subcommands(), LR_FIND: {"model", "datamodule"}}

    # -- parser ------------------------------------------------------------------------------
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Shapes and class counts come from the data; an experiment file never types them.
        for source, target in DATA_LINKS:
            parser.link_arguments(source, target, apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_class_arguments(RunDefaults, "defaults", help="The callbacks and plugins every lit-dl run gets.")
        parser.add_argument("--name", type=str | None, default=None, help="Experiment name (default: the first config file's stem).")
        parser.set_defaults({**CHECKPOINT_DEFAULTS, "trainer.default_root_dir": DEFAULT_ROOT_DIR})

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        argv = args if args is not None else sys.argv[1:]
        for path in explain.config_paths(argv):
            checks.check_config_file(path)
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as error:
            # jsonargparse names neither the file nor the line of a YAML syntax error.
            for path in explain.config_paths(argv):
                explain.check_yaml_file(path)
            raise UserError(explain.explain_parse_error(str(error), explain.option_names(parser, argv, self.subcommands()))) from error
        # LightningCLI reads a checkpoint file's hyperparameters next, and fails with a traceback.
        subcommand = self.config.get("subcommand")
        if subcommand:
            checks.check_options(subcommand, self.config[subcommand])
            checks.check_links(self.config[subcommand], DATA_LINKS)
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and Path(ckpt_path).is_file():
            check_readable(ckpt_path)

    def _dump_config(self) -> None:
        # Private LightningCLI method (lightning 2.4-2.6), overridden because no hook exists for
        # it: Lightning records the model's hyperparameters from this dump and expects every
        # `class_path` beside an `init_args`; a net whose only arguments are linked from the
        # data (Perceptron) is dumped without one and would fail to instantiate.
        super()._dump_config()
        _give_every_class_init_args(self.config_dump)

    # -- run directory -----------------------------------------------------------------------
    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        request = RunRequest(
            command=self.subcommand or "fit",
            root_dir=Path(config.trainer.default_root_dir or DEFAULT_ROOT_DIR),
            name=config.get("name"),
            config_files=[str(path) for path in config.get("config") or []],
            ckpt_path=config.get("ckpt_path"),
            config_text=self._config_text() if "SLURM_JOB_ID" in os.environ else "",
        )
        environment = Environment.read(request)
        self.plan = plan = resolve_run(request, environment)
        if plan.new_run and self.subcommand:  # built with run=False, the CLI writes nothing
            self.reservation = reserve_version(plan.experiment_dir)
            self.run_dir = self.reservation.run_dir
        else:
            self.run_dir = plan.run_dir or plan.experiment_dir / f"version_{next_version(plan.experiment_dir)}"
        if environment.rank == 0:
            os.environ[RUN_DIR_ENV] = str(self.run_dir)  # for the DDP processes Lightning starts
            if environment.slurm_job and self.run_dir.is_dir():
                slurm.mark_job(self.run_dir, environment.slurm_job)
        self.records_status = environment.rank == 0 and self.subcommand == "fit" and (plan.new_run or environment.slurm_restarted)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        trainer_config, defaults = config["trainer"], config["defaults"] or RunDefaults()
        configured = list(trainer_config.get("callbacks") or [])
        progress = trainer_config.get("enable_progress_bar", True) is not False
        kwargs["callbacks"] = [*configured, *defaults.callbacks(configured, progress_bar_enabled=progress)]
        kwargs["logger"] = self._loggers(trainer_config.get("logger"))
        kwargs["plugins"] = defaults.plugins(_as_list(trainer_config.get("plugins")), str(trainer_config.get("accelerator") or ""), trainer_config.get("strategy") or "") or None
        # Lightning's own files (a SLURM requeue's hpc_ckpt_<n>.ckpt) go into the run.
        kwargs["default_root_dir"] = str(self.run_dir / CHECKPOINTS)
        if trainer_config.get("profiler") is None:
            kwargs["profiler"] = NoProfiler()
        if trainer_config.get("enable_model_summary") is None:
            kwargs["enable_model_summary"] = False  # the run summary's parameter count says it (no FLOPs: 0)
        if trainer_config.get("sync_batchnorm") and not _on_cuda(trainer_config.get("accelerator")):
            # torch's SyncBatchNorm runs on GPUs only; on CPUs (ddp.yaml tried out there) each
            # process keeps its own batch statistics instead of failing.
            kwargs["sync_batchnorm"] = False
        _pin_checkpoint_dirs([*kwargs["callbacks"], config.get("checkpoint")], self.run_dir)
        explain.check_devices(trainer_config.get("accelerator"), trainer_config.get("devices"))
        if self.plan.checkpoint:  # before anything is written into the run directory
            check_checkpoint(self.plan.checkpoint, self.model)
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except (MisconfigurationException, ValueError, TypeError) as error:  # trainer flags that cannot work together
            raise UserError(f"trainer: {str(error).strip().splitlines()[0]}") from error
        restore_cuda_check(USER_NVML_CUDA_CHECK, uses_cuda=trainer.strategy.root_device.type == "cuda")
        return trainer

    def _loggers(self, configured: Any) -> list:
        run_dir = self.run_dir
        csv = RunCSVLogger(save_dir=run_dir.parent.parent, name=run_dir.parent.name, version=int(run_dir.name.split("_")[-1]))
        specs = (self.config[self.subcommand] if self.subcommand else self.config).trainer.logger
        if configured in (None, True, False):
            configured, specs = [], []
        elif not isinstance(configured, list):
            configured, specs = [configured], [specs]
        # W&B and TensorBoard are rebuilt from their parsed arguments to write into the run directory.
        others = tracking.prepare_loggers(configured, specs, run_dir=run_dir, experiment=run_dir.parent.name, config=self._config_text)
        return [csv, *(logger for logger in others if not isinstance(logger, RunCSVLogger))]

    def _config_text(self) -> str:
        # `_parser` is LightningCLI's (private) accessor of the subcommand's parser.
        config = self.config[self.subcommand] if self.subcommand else self.config
        return self._parser(self.subcommand).dump(config, skip_none=False)

    # -- the subcommands and the run's record -------------------------------------------------
    def fit(self, model: LightningModule, datamodule: Any = None, test_after_fit: bool = True, **kwargs: Any) -> None:
        kwargs["ckpt_path"] = str(self.plan.checkpoint) if self.plan.checkpoint else None
        self.test_after_fit = test_after_fit
        try:
            self.trainer.fit(model, datamodule=datamodule, **kwargs)
        except (ValueError, MisconfigurationException) as error:
            # Raised by torch's or Lightning's own checks while the fit is set up, before the first
            # step: a value they reject (an optimizer's beta, a val_check_interval longer than the
            # epoch). Anything else, or raised elsewhere, is a bug and keeps its traceback.
            if _started_training(self.trainer) or not _raised_by_torch_or_lightning(error):
                raise
            raise UserError(_setup_problem(error)) from error

    def validate(self, **kwargs: Any) -> None:
        self.trainer.validate(**{**kwargs, "ckpt_path": str(self.plan.checkpoint)})

    def test(self, **kwargs: Any) -> None:
        self.trainer.test(**{**kwargs, "ckpt_path": str(self.plan.checkpoint)})

    def lr_find(self, **kwargs: Any) -> None:
        finder = self.trainer.lr_find(**kwargs)
        _remove_if_empty(self.run_dir / CHECKPOINTS)  # Lightning's temporary checkpoint has gone
        if not self.trainer.is_global_zero:
            return
        scheduler = self.config[LR_FIND].model.init_args.get("scheduler")
        found = write_lr_find(finder, self.run_dir, scheduler.class_path if scheduler else None)
        print(f"suggested learning rate: {found['suggestion']:.3g}  (loss curve: {self.run_dir / FIGURE_FILE})")
        print(f"train with it: {found['flag']}")
        print(self.run_dir, flush=True)

    def before_fit(self) -> None:
        checks.check_monitors(self.model, _monitors(self.trainer, self.model))
        needed = 3 * sum(p.numel() * p.element_size() for p in self.model.parameters()) + (1 << 16)
        if self.plan.checkpoint:
            checks.check_resume_trains(self.plan.checkpoint, self.config["fit"]["trainer"])
            needed = max(needed, self.plan.checkpoint.stat().st_size)
        if self.trainer.is_global_zero:  # a full, read-only or blocked disk, before the first epoch
            checks.check_room(self.run_dir if self.run_dir.is_dir() else self.run_dir.parent, needed)
        self.held_logs.release()
        if self.records_status and self.run_dir.is_dir():
            seed = self.config["fit"].get("seed_everything")
            fields = {"seed": seed, "versions": package_versions(), "git": git_commit()} if self.plan.new_run else {}
            if self.plan.new_run:  # the net that trains (NetForShape picks one) and what the data chose
                fields |= {"net": type(getattr(self.model, "net", self.model)).__name__, "data": getattr(self.datamodule, "choices", {})}
            record.update_results(self.run_dir, status="running", **fields)
        self.earlier_wall_time = record.wall_time_so_far(self.run_dir)

    def after_fit(self) -> None:
        trainer = self.trainer
        if trainer.interrupted:
            return
        val = _scalars(trainer.callback_metrics, "val/")
        checkpoint = trainer.checkpoint_callback
        best = checkpoint.best_model_path if checkpoint is not None else ""
        test, per_class = {}, {}
        if getattr(self, "test_after_fit", True) and self._has_test_data():
            outputs = trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None, verbose=False)
            test = _scalars(outputs[0] if outputs else {}, "test/")
        if not trainer.is_global_zero:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if test:
            per_class = self._per_class_results(CONFUSION_MATRIX_FIGURE)
        record.update_results(
            self.run_dir, status="completed", val=val, test=test, best_checkpoint=best or None,
            wall_time_s=round(self.earlier_wall_time + time.monotonic() - self.started, 3), epochs=trainer.current_epoch,
            **per_class,
        )
        if test:
            print(_metrics_line("test", test))
        tracking.finish_fit(trainer, self.run_dir)
        print(self.run_dir, flush=True)

    def before_validate(self) -> None:
        self.held_logs.release()

    def before_lr_find(self) -> None:
        self.held_logs.release()

    def before_test(self) -> None:
        self.held_logs.release()

    def before_predict(self) -> None:
        self.held_logs.release()

    def after_validate(self) -> None:
        self._after_evaluation("validate", "val/")

    def after_test(self) -> None:
        self._after_evaluation("test", "test/")

    def predict(self, **kwargs: Any) -> None:
        outputs = self.trainer.predict(**{**kwargs, "ckpt_path": str(self.plan.checkpoint)})
        if self.trainer.is_global_zero and outputs:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            path = self.run_dir / "predictions.pt"
            torch.save(torch.cat([torch.as_tensor(batch) for batch in outputs]), path)
            record.add_evaluation(self.run_dir, "predict", str(self.plan.checkpoint), {})
            print(f"predictions: {path}")
            print(self.run_dir, flush=True)

    def _after_evaluation(self, command: str, prefix: str) -> None:
        if self.trainer.is_global_zero and self.run_dir.is_dir():
            metrics = _scalars(self.trainer.callback_metrics, prefix)
            # Each checkpoint's test has its own figure: the fit's confusion_matrix.png stays as it was.
            figure = f"confusion_matrix_{Path(str(self.plan.checkpoint)).stem}.png"
            per_class = self._per_class_results(figure) if command == "test" else {}
            record.add_evaluation(self.run_dir, command, str(self.plan.checkpoint), metrics, **per_class)
            if metrics:
                print(_metrics_line(prefix.rstrip("/"), metrics))
            print(self.run_dir, flush=True)

    def _per_class_results(self, figure: str) -> dict[str, Any]:
        """A classifier's last test per class (see `Classifier.test_per_class`), with its confusion
        matrix drawn into the run directory as `figure`; {} for other tasks."""
        per_class = getattr(self.model, "test_per_class", None)
        if not per_class:
            return {}
        plot_confusion_matrix(per_class["confusion_matrix"], per_class["labels"], self.run_dir / figure)
        return {"per_class": {**per_class, "figure": figure}}

    def _has_test_data(self) -> bool:
        return self.datamodule is not None and is_overridden("test_dataloader", self.datamodule)

    def _record_end(self, status: str, error: BaseException | None = None) -> None:
        """The run's status after a fit that did not complete; only the process that owns it."""
        if not self.records_status or self.run_dir is None or not (self.run_dir / record.RESULTS_FILE).is_file():
            return
        fields: dict[str, Any] = {"error": explain.one_line(error)} if error is not None and status != "interrupted" else {}
        if hasattr(self, "earlier_wall_time"):  # a requeued run's segments add up
            fields["wall_time_s"] = round(self.earlier_wall_time + time.monotonic() - self.started, 3)
        try:
            record.update_results(self.run_dir, status=status, **fields)
        except OSError:
            pass  # a full or read-only disk: the error that stopped the run is what the user sees

    def _stopping_signal(self) -> int:
        trainer = getattr(self, "trainer", None)
        for callback in trainer.callbacks if trainer is not None else []:
            if isinstance(callback, StopOnSignal) and callback.stopped_by:
                return int(callback.stopped_by)
        return 15  # SIGTERM


def _pin_checkpoint_dirs(callbacks: list[Any], run_dir: Path) -> None:
    """Give every ModelCheckpoint without a `dirpath` the run's checkpoints folder, absolute.

    ModelCheckpoint restores its record of the best and last files only when the folder it
    resumes in is spelled exactly as when it saved; otherwise it writes `last-v1.ckpt` next to
    a stale `last.ckpt`. An absolute path is the same from any working directory.
    """
    for callback in callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
            callback.dirpath = os.path.realpath(Path(run_dir) / CHECKPOINTS)


def _has_started(run_dir: Path) -> bool:
    """Whether a run logged a metric or saved a checkpoint: then a failure keeps it, marked."""
    return (run_dir / "metrics.csv").is_file() or any((run_dir / CHECKPOINTS).glob("*.ckpt"))


def _give_every_class_init_args(node: Any) -> None:
    if isinstance(node, dict):
        if "class_path" in node:
            node.setdefault("init_args", {})
        for value in node.values():
            _give_every_class_init_args(value)
    elif isinstance(node, list):
        for value in node:
            _give_every_class_init_args(value)


def _metrics_line(stage: str, metrics: dict[str, float]) -> str:
    """`test: test/acc 0.9780  test/loss 0.1108`, the same after fit and after `lit-dl test`."""
    return f"{stage}: " + "  ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))


def _on_cuda(accelerator: Any) -> bool:
    """Whether the trainer will run on CUDA GPUs ("auto" picks them when there are any)."""
    name = str(accelerator or "auto")
    return name in ("gpu", "cuda") or (name == "auto" and torch.cuda.is_available())


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """The whole-set metrics of a stage; one class's values are in the run's `per_class` record."""
    return {
        k: float(v) for k, v in metrics.items()
        if k.startswith(prefix) and not is_per_class_metric(k) and getattr(v, "numel", lambda: 1)() == 1
    }


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # holds files, or was never made


# Lightning's chatter while a command is set up (`Seed set to N`, `GPU available: ...`).
LIGHTNING_LOGGERS = ["lightning.fabric", "lightning.pytorch", "lightning"]


class _FilterFor(logging.Filter):
    def __init__(self, held: _HeldBack, handler: logging.Handler) -> None:
        super().__init__()
        self.held, self.handler = held, handler

    def filter(self, record: logging.LogRecord) -> bool:
        self.held.records.append((self.handler, record))
        return False


class _HeldBack:
    """Holds a logger's records and Python's warnings back until `release()` (then they are
    shown) or `drop()` (an error ends the command: it comes alone)."""

    def __init__(self, loggers: list[str]) -> None:
        self.handlers = [handler for name in loggers for handler in logging.getLogger(name).handlers]
        self.records: list[tuple[logging.Handler, logging.LogRecord]] = []
        self.handling: logging.Handler | None = None
        for handler in self.handlers:
            handler.addFilter(_FilterFor(self, handler))
        self.catching = warnings.catch_warnings(record=True)
        self.warnings = self.catching.__enter__()

    def __deepcopy__(self, memo: dict) -> _HeldBack:
        # LightningCLI's instantiators hold the CLI, and the optimizer callables they build hold
        # those; a deep copy of the model (weight averaging) must not copy the logging handlers.
        return self

    def __getstate__(self) -> dict:
        return {"handlers": [], "records": [], "catching": None, "warnings": None}

    def release(self) -> None:
        records, caught = self.records, list(self.warnings or [])
        self.drop()
        for handler, log_record in records:
            handler.handle(log_record)
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno, source=warning.source)

    def drop(self) -> None:
        for handler in self.handlers:
            for held in [f for f in handler.filters if isinstance(f, _FilterFor) and f.held is self]:
                handler.removeFilter(held)
        self.records = []
        if self.catching is not None:
            self.catching.__exit__(None, None, None)
            self.catching, self.warnings = None, None


def _monitors(trainer: Trainer, task: Any) -> list[tuple[str, str]]:
    """(who, metric) for every metric the fit follows: checkpoints, early stopping, the LR plateau."""
    from lightning.pytorch.callbacks import EarlyStopping
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from lit_dl.tasks.base import _unwrap_partial

    found = []
    for callback in trainer.callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.monitor:
            found.append(("--checkpoint.monitor" if callback is trainer.checkpoint_callback else "ModelCheckpoint", callback.monitor))
        elif isinstance(callback, EarlyStopping):
            found.append(("EarlyStopping", callback.monitor))
    scheduler = getattr(task, "scheduler_factory", None)
    if scheduler is not None:
        scheduler_class = _unwrap_partial(scheduler)[1]
        if isinstance(scheduler_class, type) and issubclass(scheduler_class, ReduceLROnPlateau):
            found.append(("ReduceLROnPlateau (--model.init_args.monitor)", getattr(task, "monitor", None)))
    return found


def _started_training(trainer: Trainer) -> bool:
    return trainer.global_step > 0 or trainer.fit_loop.epoch_loop.batch_progress.total.ready > 0


def _raised_by_torch_or_lightning(error: BaseException) -> bool:
    """Whether the innermost frame of the error is in torch or Lightning: a check of theirs."""
    import lightning

    packages = [str(Path(module.__file__).resolve().parent) for module in (torch, lightning)]
    traceback = error.__traceback__
    innermost = None
    while traceback is not None:
        innermost, traceback = traceback.tb_frame, traceback.tb_next
    where = str(Path(innermost.f_code.co_filename).resolve()) if innermost is not None else ""
    return any(where.startswith(package + os.sep) for package in packages)


def _setup_problem(error: BaseException) -> str:
    """`<section>: <first sentence of the message>`, the section found from where it was raised."""
    import re
    import traceback as tb

    files = [frame.filename for frame in tb.extract_tb(error.__traceback__)]
    if any(name.endswith("lr_scheduler.py") for name in files):
        where = "model.init_args.scheduler"
    elif any(f"{os.sep}optim{os.sep}" in name for name in files):
        where = "model.init_args.optimizer"
    else:
        where = "trainer"
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", explain.one_line(error).strip())[0]
    return f"{where}: {first}"
