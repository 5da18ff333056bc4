"""`LitDLCLI`: LightningCLI as a thin adapter. Each hook delegates, in LightningCLI's order:
- `add_arguments_to_parser`: the data-to-net links, the `checkpoint` and `defaults` sections, `--name`;
- `parse_arguments`: checks, and parse errors as one line (lit_dl.cli.checks, lit_dl.cli.explain);
- `before_instantiate_classes`: the run (lit_dl.run: `resolve_run`, then a `RunSession`);
- `instantiate_trainer`: what lit-dl adds to the Trainer (lit_dl.training.defaults.RunDefaults);
- the subcommands and their `before_`/`after_` steps: the run's record through the session,
  what the user reads through lit_dl.cli.report and lit_dl.cli.console.
Trainer-backed commands beyond LightningCLI's own add their steps as mixins (lit_dl.cli.table).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentError
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.model_helpers import is_overridden

import lit_dl.losses  # noqa: F401  (teaches jsonargparse to read class weights from YAML lists)
from lit_dl import internals
from lit_dl.cli import checks, config_files, explain, report
from lit_dl.cli.predictions import record_predictions
from lit_dl.cli.console import USER_NVML_CUDA_CHECK, HeldBack, KeepLineBreaks, ctrl_c_ignored
from lit_dl.cli.table import DESCRIPTION
from lit_dl.cli.trainer import EXTENSIONS, LitDLTrainer, SaveConfigOnce
from lit_dl.errors import UserError
from lit_dl.run.environment import Environment
from lit_dl.run.layout import DEFAULT_ROOT_DIR
from lit_dl.run.plan import RunRequest, resolve_run
from lit_dl.run.session import WRITING_COMMANDS, RunSession
from lit_dl.training.checkpoint_io import check_checkpoint
from lit_dl.training.checkpoints import CHECKPOINT_DEFAULTS, RunCheckpoint, fit_outcome, scalars
from lit_dl.training.defaults import RunDefaults
from lit_dl.training.monitors import monitored_metrics
from lit_dl.training.process_group import has_process_group, leave_process_group
from lit_dl.training.signals import ended_fit
from lit_dl.training.speed import restore_cuda_check, skip_unused_hooks
from lit_dl.training.tracking import finish_fit

DATA_LINKS = (
    ("data.num_outputs", "model.init_args.num_outputs"),
    ("data.num_outputs", "model.init_args.net.init_args.num_outputs"),
    ("data.input_shape", "model.init_args.net.init_args.input_shape"),
    # Supervised becomes the task the data asks for; Classifier and Regressor check that they fit it.
    ("data.task", "model.init_args.task"),
)
_NO_EXIT = {"exit_on_error": False}


class LitDLCLI(*(extension.CLISteps for extension in EXTENSIONS.values()), LightningCLI):
    """LightningCLI that links data shapes into the net and runs each command in its run."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        self.session: RunSession | None = None
        # Lightning says `Seed set to N` as soon as the config parses, and more as the trainer is
        # built; an error found after that must come alone, so its lines and warnings wait until
        # the command is set up (`console.release()` in the `before_<command>` steps).
        self.console = HeldBack()
        arguments = dict(_LIGHTNING_CLI_ARGUMENTS)
        command = _command_first(args if args is not None else sys.argv[1:])
        if command:
            # Only the command being run gets its parser: building the other four took a third
            # of a fit's set-up. `lit-dl --help` (no command first) still builds them all.
            self.subcommands = lambda: {command: LitDLCLI.subcommands()[command]}  # type: ignore[method-assign]
            arguments["parser_kwargs"] = {k: v for k, v in arguments["parser_kwargs"].items() if k not in _OTHER[command]}
        # A group that existed before (lit-dl called from the caller's own distributed program) is theirs.
        leaves_its_group = run and not has_process_group()
        try:
            super().__init__(args=args, run=run, **arguments)
        except BaseException as error:
            self._record_stop(error)
            raise
        finally:
            self.console.drop()
            if self.session is not None:
                self.session.close()
            if leaves_its_group:
                with ctrl_c_ignored():
                    leave_process_group()

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """LightningCLI's subcommands and the command table's other Trainer-backed ones, with
        the method arguments the CLI fills itself."""
        return {**LightningCLI.subcommands(), **{name: set(extension.FILLED) for name, extension in EXTENSIONS.items()}}

    # -- parser ------------------------------------------------------------------------------
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Shapes and class counts come from the data; an experiment file never types them.
        for source, target in DATA_LINKS:
            parser.link_arguments(source, target, apply_on="instantiate")
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.add_class_arguments(RunDefaults, "defaults", help="The callbacks and plugins every lit-dl run gets.")
        parser.add_argument("--name", type=str | None, default=None, help="Experiment name (default: the first config file's stem).")
        parser.set_defaults({**{f"checkpoint.{k}": v for k, v in CHECKPOINT_DEFAULTS.items()}, "trainer.default_root_dir": DEFAULT_ROOT_DIR})

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        argv = args if args is not None else sys.argv[1:]
        for path in config_files.config_paths(argv):
            config_files.check_config_file(path)
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as error:
            # jsonargparse names neither the file nor the line of a YAML syntax error.
            for path in config_files.config_paths(argv):
                config_files.check_yaml_file(path)
            raise UserError(explain.explain_parse_error(str(error), explain.option_names(parser, argv, self.subcommands()))) from error
        if self.config.get("subcommand"):
            checks.check_parsed(self.config[self.config.subcommand], self.config.subcommand, DATA_LINKS)

    # -- the run -------------------------------------------------------------------------------
    def before_instantiate_classes(self) -> None:
        command = self.subcommand or "fit"
        request = self._run_request(command)
        environment = Environment.read(command, request.config_text)
        self.session = RunSession.open(resolve_run(request, environment), environment, command, create=bool(self.subcommand))
        if command == "fit":
            self._keep_the_runs_seed(self._subcommand_config())

    def instantiate_classes(self) -> None:
        internals.dump_config_with_init_args(self)  # the hyperparameters Lightning records
        super().instantiate_classes()

    def _run_request(self, command: str) -> RunRequest:
        config = self._subcommand_config()
        in_slurm = "SLURM_JOB_ID" in os.environ  # a requeued job recognises its run by its config
        return RunRequest(
            command=command,
            root_dir=Path(config.trainer.default_root_dir or DEFAULT_ROOT_DIR),
            name=config.get("name"),
            config_files=[str(path) for path in config.get("config") or []],
            ckpt_path=config.get("ckpt_path"),
            config_text=self._config_text() if in_slurm else "",
        )

    def _keep_the_runs_seed(self, config: Any) -> None:
        """A resumed run keeps the seed it was started with, whatever the config file says now."""
        from lightning.pytorch import seed_everything

        seed = self.session.recorded("seed")
        if isinstance(seed, int) and config.get("seed_everything") != seed:
            seed_everything(seed, workers=True)
            config["seed_everything"] = seed

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        defaults = config["defaults"] or RunDefaults()
        kwargs.update(defaults.trainer_arguments(
            config["trainer"], run_dir=self.session.run_dir, checkpoint=config.get("checkpoint"),
            logger_specs=self._subcommand_config().trainer.logger, config_text=self._config_text,
            training=(self.subcommand or "fit") in WRITING_COMMANDS,
        ))
        self._check_trainer_setup(config, kwargs["callbacks"])
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except (MisconfigurationException, ValueError, TypeError) as error:  # trainer flags that cannot work together
            raise UserError(f"trainer: {str(error).strip().splitlines()[0]}") from error
        restore_cuda_check(USER_NVML_CUDA_CHECK, uses_cuda=trainer.strategy.root_device.type == "cuda")
        skip_unused_hooks(trainer)
        return trainer

    def _check_trainer_setup(self, config: Any, callbacks: list[Any]) -> None:
        checks.check_callbacks([*callbacks, config.get("checkpoint")])
        explain.check_devices(config["trainer"].get("accelerator"), config["trainer"].get("devices"))
        if self.session.plan.checkpoint:  # before anything is written into the run directory
            check_checkpoint(self.session.plan.checkpoint, self.model)

    def _subcommand_config(self) -> Any:
        return self.config[self.subcommand] if self.subcommand else self.config

    def _config_text(self) -> str:
        return internals.subcommand_parser(self, self.subcommand).dump(self._subcommand_config(), skip_none=False)

    def _record_stop(self, error: BaseException) -> None:
        """A command that raised: record how its fit ended; a stop by signal exits with 128 + it."""
        if self.session is None:
            return
        trainer = getattr(self, "trainer", None)
        with ctrl_c_ignored():
            stop, progress = ended_fit(trainer, error, self.session.began)
            self.session.end(stop.status, stop.error, **progress)
        if stop.message and (trainer is None or trainer.is_global_zero):
            print(stop.message, file=sys.stderr, flush=True)
        if stop.exit_code is not None:
            raise SystemExit(stop.exit_code) from None

    # -- fit -------------------------------------------------------------------------------------
    def fit(self, model: LightningModule, datamodule: Any = None, test_after_fit: bool = True, **kwargs: Any) -> None:
        kwargs["ckpt_path"] = str(self.session.plan.checkpoint) if self.session.plan.checkpoint else None
        self.test_after_fit = test_after_fit
        try:
            self.trainer.fit(model, datamodule=datamodule, **kwargs)
        except (ValueError, MisconfigurationException) as error:
            # Raised by torch's or Lightning's own checks while the fit is set up, before the first
            # step: a value they reject (an optimizer's beta, a val_check_interval longer than the
            # epoch). Anything else, or raised elsewhere, is a bug and keeps its traceback.
            if internals.batches_started(self.trainer) > 0 or not explain.raised_by_torch_or_lightning(error):
                raise
            raise UserError(explain.setup_problem(error)) from error

    def before_fit(self) -> None:
        checks.check_monitors(self.model, monitored_metrics(self.trainer, self.model))
        resumed = self.session.plan.checkpoint
        if resumed:
            checks.check_resume_trains(resumed, self.config["fit"]["trainer"], self.session.recorded("status"))
        if self.trainer.is_global_zero:  # a full, read-only or blocked disk, before the first epoch
            checks.check_room_for(self.model, self.session.run_dir, resumed)
        self._setup_done()
        # A new run records the net that trains (NetForShape picks one) and what the data chose.
        made = {"net": type(getattr(self.model, "net", self.model)).__name__, "data": getattr(self.datamodule, "choices", {})}
        self.session.begin(seed=self.config["fit"].get("seed_everything"), **made)

    def after_fit(self) -> None:
        trainer = self.trainer
        if trainer.interrupted:
            return
        outcome = fit_outcome(trainer)
        test = self._test_best(outcome.get("best_checkpoint"))
        if not trainer.is_global_zero:
            return
        if trainer.fast_dev_run:  # a smoke test of the whole fit: like Lightning, it records nothing
            self.session.discard()
        else:
            self.session.run_dir.mkdir(parents=True, exist_ok=True)
            per_class = report.per_class_results(self.model, self.session.run_dir, report.figure_name(None)) if test else {}
            self.session.complete(**outcome, test=test, **per_class)
        if test:
            print(report.metrics_line("test", test))
        finish_fit(trainer, self.session.run_dir)
        print("fast_dev_run: nothing recorded" if trainer.fast_dev_run else self.session.run_dir, flush=True)

    def _test_best(self, best: str | None) -> dict[str, float]:
        """The test after fit, of the best checkpoint: its whole-set metrics ({} for none)."""
        if not self.test_after_fit or self.datamodule is None or not is_overridden("test_dataloader", self.datamodule):
            return {}
        outputs = self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best, verbose=False)
        return scalars(outputs[0] if outputs else {}, "test/")

    # -- evaluations: recorded beside the fit's values ----------------------------------------
    def validate(self, **kwargs: Any) -> None:
        self.trainer.validate(**{**kwargs, "ckpt_path": str(self.session.plan.checkpoint)})

    def test(self, **kwargs: Any) -> None:
        self.trainer.test(**{**kwargs, "ckpt_path": str(self.session.plan.checkpoint)})

    def predict(self, **kwargs: Any) -> None:
        outputs = self.trainer.predict(**{**kwargs, "ckpt_path": str(self.session.plan.checkpoint)})
        if self.trainer.is_global_zero and outputs:
            record_predictions(self.session, outputs, self.model, self.datamodule)

    def _setup_done(self) -> None:
        self.console.release()  # the command is set up: Lightning's held-back lines may show

    before_validate = before_test = before_predict = _setup_done

    def after_validate(self) -> None:
        self._after_evaluation("validate", "val/")

    def after_test(self) -> None:
        self._after_evaluation("test", "test/")

    def _after_evaluation(self, command: str, prefix: str) -> None:
        run_dir = self.session.run_dir
        if not self.trainer.is_global_zero or not run_dir.is_dir():
            return
        metrics = scalars(self.trainer.callback_metrics, prefix)
        checkpoint = self.session.plan.checkpoint
        per_class = report.per_class_results(self.model, run_dir, report.figure_name(checkpoint)) if command == "test" else {}
        self.session.evaluated(command, str(checkpoint), metrics, **per_class)
        if metrics:
            print(report.metrics_line(prefix.rstrip("/"), metrics))
        print(run_dir, flush=True)


_LIGHTNING_CLI_ARGUMENTS = {
    "subclass_mode_model": True,
    "subclass_mode_data": True,
    "trainer_class": LitDLTrainer,
    "save_config_callback": SaveConfigOnce,
    "parser_kwargs": {
        **_NO_EXIT, "description": DESCRIPTION, "formatter_class": KeepLineBreaks,
        **{name: dict(_NO_EXIT) for name in LitDLCLI.subcommands()},
    },
    "auto_configure_optimizers": False,
}


# Per command, the other Trainer-backed commands (whose parsers a run of it does not build).
_OTHER = {name: set(LitDLCLI.subcommands()) - {name} for name in LitDLCLI.subcommands()}


def _command_first(argv: list[str]) -> str | None:
    return argv[0] if argv and argv[0] in _OTHER else None

