"""`lit-dl`: LightningCLI with a run directory, default callbacks and one-line user errors.

`lit-dl fit|validate|test|predict` are LightningCLI's subcommands; `compare`, `sweep` and `plot`
are lit-dl's own and are dispatched before Lightning is imported, so they start fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

# Commands that need no Trainer: module path of a `main(argv)` each.
EXTRA_COMMANDS = {
    "compare": "lit_dl.commands.compare",
    "sweep": "lit_dl.commands.sweep",
    "plot": "lit_dl.commands.plot",
}
DEFAULT_ROOT_DIR = "runs"
# Rank zero's run directory, inherited by the DDP processes Lightning starts from it.
RUN_DIR_ENV = "LIT_DL_RUN_DIR"
# As the user had it: `import lightning` overwrites it (see lit_dl.speed.restore_cuda_check).
USER_NVML_CUDA_CHECK = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")
DESCRIPTION = (
    "Train, evaluate and compare deep-learning experiments described in YAML.\n"
    "  lit-dl fit --config experiments/quickstart.yaml   train (then test the best checkpoint)\n"
    "  lit-dl compare RUN_DIR_OR_GLOB...                 table of runs and their differences\n"
    "  lit-dl sweep GRID.yaml                            grid or random search of runs\n"
    "  lit-dl plot activations -o act.png                figures for the docs"
)


def _build_cli_class() -> type:
    """Defined inside a function so that `import lit_dl.cli` does not import Lightning."""
    import argparse

    import torch
    from jsonargparse import DefaultHelpFormatter
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch import Trainer
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
    from lightning.pytorch.utilities.model_helpers import is_overridden

    import lit_dl.losses  # noqa: F401  (teaches jsonargparse to read class weights from YAML lists)
    from lit_dl import reliability, runs, user_errors
    from lit_dl.callbacks import GradientNormMonitor, LineProgressBar
    from lit_dl.errors import UserError
    from lit_dl.loggers import RunCSVLogger
    from lit_dl.speed import NoProfiler, install_lean_hook_dispatch, restore_cuda_check

    class _KeepLineBreaks(argparse.RawDescriptionHelpFormatter, DefaultHelpFormatter):
        """jsonargparse's help, with the description's command list kept on its lines."""

    class LitDLCLI(LightningCLI):
        """LightningCLI that links data shapes into the net and owns the run directory."""

        def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
            no_exit = {"exit_on_error": False}
            super().__init__(
                subclass_mode_model=True,
                subclass_mode_data=True,
                save_config_kwargs={"overwrite": True},
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

        # -- parser ------------------------------------------------------------------------
        def _dump_config(self) -> None:
            # Lightning records the model's hyperparameters from this dump and expects every
            # `class_path` beside an `init_args`; a net whose only arguments are linked from the
            # data (Perceptron) is dumped without one and would fail to instantiate.
            super()._dump_config()
            _give_every_class_init_args(self.config_dump)

        def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
            from jsonargparse import ArgumentError

            from lit_dl.user_errors import explain_parse_error

            try:
                super().parse_arguments(parser, args)
            except ArgumentError as error:
                # jsonargparse names neither the file nor the line of a YAML syntax error.
                for path in _config_paths(args if args is not None else sys.argv[1:]):
                    user_errors.check_yaml_file(path)
                raise UserError(explain_parse_error(str(error), _option_names(parser, args))) from error

        def _parse_ckpt_path(self) -> None:
            # LightningCLI reads `--ckpt_path`'s hyperparameters before lit-dl sees the path.
            try:
                super()._parse_ckpt_path()
            except Exception as error:
                ckpt_path = self.config[self.config.subcommand].get("ckpt_path")
                raise UserError(reliability.unreadable_checkpoint_message(ckpt_path, error)) from error

        def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
            parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
            parser.add_argument("--name", type=str | None, default=None, help="Experiment name (default: the first config file's stem).")
            if subcommand == "fit":
                parser.add_argument("--test_after_fit", type=bool, default=True, help="Test the best checkpoint after fit.")
            return parser

        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            # Shapes and class counts come from the data; an experiment file never types them.
            for source, target in (
                ("data.num_outputs", "model.init_args.num_outputs"),
                ("data.num_outputs", "model.init_args.net.init_args.num_outputs"),
                ("data.input_shape", "model.init_args.net.init_args.input_shape"),
            ):
                parser.link_arguments(source, target, apply_on="instantiate")
            parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
            parser.set_defaults(
                {
                    "checkpoint.monitor": "val/loss",
                    "checkpoint.mode": "min",
                    "checkpoint.filename": "best",
                    "checkpoint.save_last": True,
                    "checkpoint.auto_insert_metric_name": False,
                    "checkpoint.enable_version_counter": False,  # the names best/last are fixed
                    "trainer.default_root_dir": DEFAULT_ROOT_DIR,
                }
            )

        # -- run directory -----------------------------------------------------------------
        def before_instantiate_classes(self) -> None:
            config = self.config[self.subcommand] if self.subcommand else self.config
            self.root_dir = Path(config.trainer.default_root_dir or DEFAULT_ROOT_DIR)
            config_files = config.get("config") or []
            first_config = Path(str(config_files[0])) if config_files else None
            self.experiment = config.get("name") or (first_config.stem if first_config else "default")
            experiment_dir = self.root_dir / self.experiment
            ckpt_path = config.get("ckpt_path")
            fitting, rank = self.subcommand == "fit", runs.process_rank()
            slurm_job = runs.slurm_job_key(lambda: self.parser.dump(self.config, skip_check=True)) if fitting else None
            if ckpt_path is None and slurm_job and runs.slurm_restarted():
                # A requeued SLURM job continues the run it started, from its newest checkpoint.
                requeued = runs.find_slurm_job_run(experiment_dir, slurm_job)
                ckpt_path = config.ckpt_path = str(runs.latest_checkpoint(requeued)) if requeued else None
            if ckpt_path in ("last", "best"):
                ckpt_path = str(runs.find_checkpoint(experiment_dir, ckpt_path))
                config.ckpt_path = ckpt_path
            elif ckpt_path is not None and not Path(ckpt_path).is_file():
                raise UserError(f"checkpoint not found: {ckpt_path}; pass an existing file, or 'last' or 'best'")
            # Continuing or evaluating a checkpoint of a run writes into that run's directory.
            owner = runs.run_dir_of_checkpoint(Path(ckpt_path)) if ckpt_path else None
            inherited = os.environ.get(RUN_DIR_ENV) if rank != 0 else None
            if owner is None and inherited:
                owner = Path(inherited)  # a DDP process started by rank zero shares its run
            if owner is not None:
                self.root_dir, self.experiment = owner.parent.parent, owner.parent.name
                self.version = int(runs.VERSION_PATTERN.match(owner.name).group(1))
            elif fitting and rank == 0:
                self.version = runs.reserve_version(experiment_dir)
            else:
                self.version = runs.next_version(experiment_dir)
            self.run_dir = self.root_dir / self.experiment / f"version_{self.version}"
            if rank == 0:
                os.environ[RUN_DIR_ENV] = str(self.run_dir)
                if slurm_job:
                    runs.mark_slurm_job(self.run_dir, slurm_job)

        def instantiate_trainer(self, **kwargs: Any) -> Trainer:
            trainer_config = self._get(self.config_init, "trainer", default={})
            kwargs["logger"] = self._loggers(trainer_config.get("logger"))
            kwargs["callbacks"] = self._callbacks(trainer_config)
            kwargs.update(reliability.trainer_kwargs(trainer_config, self.run_dir))
            if trainer_config.get("profiler") is None:
                # With no profiler asked for, Lightning still enters its do-nothing profiler's
                # generator-based context around every hook and callback call, about a hundred
                # times a step; one shared null context costs a fifth of that. With it, hooks
                # are dispatched without Lightning's per-call profiling and logging work.
                kwargs["profiler"] = NoProfiler()
                install_lean_hook_dispatch()
            extra = [self._get(self.config_init, key) for key in self._parser(self.subcommand).callback_keys]
            reliability.pin_checkpoint_dirs([*kwargs["callbacks"], *extra], self.run_dir)
            user_errors.check_devices(trainer_config.get("accelerator"), trainer_config.get("devices"))
            ckpt_path = (self.config[self.subcommand] if self.subcommand else self.config).get("ckpt_path")
            if ckpt_path:  # before anything is written into the run directory
                reliability.check_checkpoint(ckpt_path, self.model)
            try:
                trainer = super().instantiate_trainer(**kwargs)
            except (MisconfigurationException, ValueError) as error:  # trainer flags that cannot work together
                raise UserError(f"trainer: {str(error).strip().splitlines()[0]}") from error
            restore_cuda_check(USER_NVML_CUDA_CHECK, uses_cuda=trainer.strategy.root_device.type == "cuda")
            return trainer

        def _loggers(self, configured: Any) -> list:
            from lit_dl import tracking

            csv = RunCSVLogger(save_dir=self.root_dir, name=self.experiment, version=self.version)
            config = self.config.get(str(self.subcommand), self.config)
            specs = config.trainer.logger
            if configured in (None, True, False):
                configured, specs = [], []
            elif not isinstance(configured, list):
                configured, specs = [configured], [specs]
            # W&B and TensorBoard are rebuilt from their parsed arguments to write into the run directory.
            others = tracking.prepare_loggers(
                configured, specs, run_dir=self.run_dir, experiment=self.experiment,
                config=lambda: self._parser(self.subcommand).dump(config, skip_none=False),
            )
            return [csv, *(logger for logger in others if not isinstance(logger, RunCSVLogger))]

        def _callbacks(self, trainer_config: dict[str, Any]) -> list:
            callbacks = list(trainer_config.get("callbacks") or [])
            def have(kind: type) -> bool:
                return any(isinstance(c, kind) for c in callbacks)
            if not have(LearningRateMonitor):
                callbacks.append(LearningRateMonitor(logging_interval="step"))
            if not have(GradientNormMonitor):
                callbacks.append(GradientNormMonitor())
            if trainer_config.get("enable_progress_bar", True) is not False and not have(ProgressBar):
                callbacks.append(_terminal_progress_bar() if sys.stdout.isatty() else LineProgressBar())
            callbacks += [make() for make in reliability.DEFAULT_CALLBACKS if not have(make)]
            return callbacks

        # -- after fit ---------------------------------------------------------------------
        def after_fit(self) -> None:
            trainer, config = self.trainer, self.config["fit"]
            if trainer.interrupted:
                return
            val = _scalars(trainer.callback_metrics, "val/")
            checkpoint = trainer.checkpoint_callback
            best = checkpoint.best_model_path if checkpoint is not None else ""
            test = {}
            if config.get("test_after_fit", True) and self._has_test_data():
                outputs = trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None, verbose=False)
                test = _scalars(outputs[0] if outputs else {}, "test/")
            if trainer.is_global_zero:
                self._write_results(val=val, test=test, best_checkpoint=best or None)
                if test:
                    print("test: " + "  ".join(f"{k} {v:.4f}" for k, v in sorted(test.items())))
                from lit_dl import tracking

                tracking.finish_fit(trainer, self.run_dir)
                print(self.run_dir, flush=True)

        def after_validate(self) -> None:
            self._after_evaluation("val", self.config["validate"])

        def after_test(self) -> None:
            self._after_evaluation("test", self.config["test"])

        def predict(self, **kwargs: Any) -> None:
            outputs = self.trainer.predict(**kwargs)
            if self.trainer.is_global_zero and outputs:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                path = self.run_dir / "predictions.pt"
                torch.save(torch.cat([torch.as_tensor(batch) for batch in outputs]), path)
                print(f"predictions: {path}")
                print(self.run_dir, flush=True)

        def _after_evaluation(self, stage: str, config: Any) -> None:
            if self.trainer.is_global_zero and self.run_dir.is_dir():
                self._write_results(**{stage: _scalars(self.trainer.callback_metrics, f"{stage}/")}, checkpoint=config.get("ckpt_path"))
                print(self.run_dir, flush=True)

        def _has_test_data(self) -> bool:
            return self.datamodule is not None and is_overridden("test_dataloader", self.datamodule)

        def _write_results(self, **results: Any) -> None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            seed = self.config[self.subcommand].get("seed_everything")
            runs.write_results(
                self.run_dir,
                {**results, "seed": seed, "versions": runs.package_versions(), "git": runs.git_commit()},
            )

    def _give_every_class_init_args(node: Any) -> None:
        if isinstance(node, dict):
            if "class_path" in node:
                node.setdefault("init_args", {})
            for value in node.values():
                _give_every_class_init_args(value)
        elif isinstance(node, list):
            for value in node:
                _give_every_class_init_args(value)

    def _config_paths(argv: list[str]) -> list[str]:
        paths = [value for flag, value in zip(argv, argv[1:]) if flag in ("--config", "-c")]
        return paths + [arg.partition("=")[2] for arg in argv if arg.startswith("--config=")]

    def _option_names(parser: LightningArgumentParser, args: Any) -> list[str]:
        """Every dotted option of the subcommand being parsed, for did-you-mean hints."""
        subcommand = next((a for a in (args or sys.argv[1:]) if a in LitDLCLI.subcommands()), None)
        subparsers = getattr(parser, "_subcommands_action", None)
        target = subparsers._name_parser_map.get(subcommand, parser) if subparsers and subcommand else parser
        return [action.dest for action in target._actions if action.dest]

    def _terminal_progress_bar() -> ProgressBar:
        try:
            from lightning.pytorch.callbacks import RichProgressBar

            return RichProgressBar()
        except (ImportError, ModuleNotFoundError):
            from lightning.pytorch.callbacks import TQDMProgressBar

            return TQDMProgressBar()

    def _scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
        return {k: float(v) for k, v in metrics.items() if k.startswith(prefix) and getattr(v, "numel", lambda: 1)() == 1}

    return LitDLCLI


def _load_cli() -> type:
    global LitDLCLI
    if "LitDLCLI" not in globals():
        LitDLCLI = _build_cli_class()
    return globals()["LitDLCLI"]


def __getattr__(name: str) -> Any:
    if name == "LitDLCLI":
        return _load_cli()
    raise AttributeError(name)


def run(argv: list[str] | None = None) -> None:
    """Run lit-dl on `argv` (the process's arguments by default); errors propagate."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in EXTRA_COMMANDS:
        importlib.import_module(EXTRA_COMMANDS[argv[0]]).main(argv[1:])
        return
    # LightningCLI reads sys.argv itself; handing it a copy too only earns a warning.
    _load_cli()(args=None if argv == sys.argv[1:] else argv)


def main(argv: list[str] | None = None) -> None:
    """The `lit-dl` console script: user mistakes end in one line and exit code 2; a run stopped
    by SIGTERM/SIGINT saves a checkpoint, says how to resume and exits with 128 + the signal."""
    from lit_dl.errors import UserError

    debug = os.environ.get("LIT_DL_DEBUG") == "1"
    try:
        try:
            run(argv)
        except BaseException:
            from lit_dl import runs

            runs.release_empty_reservations()
            raise
    except UserError as error:
        if debug:
            raise
        _fail(str(error))
    except SystemExit as stop:
        raise SystemExit(_stop_code(stop)) from None
    except Exception as error:
        message = _user_error_message(error)
        if message is None or debug:
            raise
        _fail(message)


def _fail(message: str) -> None:
    from lit_dl import runs

    if runs.process_rank() == 0:  # every DDP process fails alike; one line is enough
        print(f"lit-dl: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _stop_code(stop: SystemExit) -> Any:
    """128 + the signal for a fit that a signal stopped (Lightning exits 0); others unchanged."""
    reliability = sys.modules.get("lit_dl.reliability")
    if type(stop).__name__ == "SIGTERMException" and reliability is not None:
        return 128 + (reliability.stop_signal or 15)
    return stop.code


def _user_error_message(error: BaseException) -> str | None:
    """A one-line message for an exception caused by the user's input; None for our bugs."""
    from lit_dl.errors import UserError

    # jsonargparse and Lightning wrap the user's mistake; the root cause says what it was.
    seen = error
    while seen is not None:
        if isinstance(seen, UserError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


if __name__ == "__main__":
    main()
