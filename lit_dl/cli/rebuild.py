"""LitDLCLI used without running a command: a run's task and DataModule rebuilt from its
config.yaml (`build_task_and_data`), and a command line parsed and checked as lit-dl would run it
(`parse_only`, `parse_again`: does a run's config.yaml still rerun?).

`lit-dl export` and `lit_dl.load_run` need the model and data exactly as `lit-dl fit` built them:
the same parser, defaults, class paths and data-to-net links (`DATA_LINKS`). So they use
`LitDLCLI` itself, with `run=False` (no subcommand), and skip the two steps that belong to a fit
alone: choosing a run directory and building a Trainer (with its loggers and callbacks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule, LightningModule

from jsonargparse import ArgumentError
from lightning.pytorch.cli import LightningArgumentParser

from lit_dl import internals
from lit_dl.cli import checks, explain
from lit_dl.cli.app import DATA_LINKS, LitDLCLI
from lit_dl.errors import UserError


def build_task_and_data(config_files: list[Path]) -> tuple[LightningModule, LightningDataModule]:
    """The task (freshly initialised weights) and the DataModule that `config_files` describe,
    built as `lit-dl fit --config ...` builds them. Nothing is written, no seed is set (the
    global random state stays the caller's), and the net is not compiled."""
    args = [word for path in config_files for word in ("--config", str(path))]
    cli = _TaskAndData(args=[*args, "--seed_everything", "false"], run=False)
    return cli.model, cli.datamodule


class _TaskAndData(LitDLCLI):
    """LitDLCLI that stops once the task and the DataModule are built."""

    def before_instantiate_classes(self) -> None:
        """No run directory: nothing is trained or recorded."""

    def instantiate_classes(self) -> None:
        config = self.config.clone()
        # Built for a fit only: loggers (a W&B run) and callbacks are never used here, and
        # `torch.compile` would only get in the way of loading and exporting the net.
        config.trainer.logger, config.trainer.callbacks = False, None
        if "compile" in config.model.init_args:
            config.model.init_args.compile = False
        internals.dump_config_with_init_args(self)  # the hyperparameters Lightning records
        self.config_init = self.parser.instantiate_classes(config)
        self.datamodule: Any = self.config_init.data
        self.model: Any = self.config_init.model
        self.trainer: Any = None


class _Parsed(Exception):
    """Raised once a command line parsed, before anything is built; carries the parser."""


class _ParseOnly(LitDLCLI):
    def before_instantiate_classes(self) -> None:
        raise _Parsed(self.parser)


def parse_only(args: list[str]) -> LightningArgumentParser:
    """Parse and check a command line as lit-dl would run it, building and writing nothing; a
    mistake raises as it would there. Returns the parser, to parse more of the same command."""
    try:
        _ParseOnly(args=args)
    except _Parsed as parsed:
        return parsed.args[0]
    raise AssertionError("LitDLCLI did not reach before_instantiate_classes")


def parse_again(parser: LightningArgumentParser, args: list[str]) -> None:
    """What `parse_only` checks, with a parser it returned (building a parser takes most of it)."""
    try:
        config = parser.parse_args(args)
    except ArgumentError as error:
        raise UserError(explain.explain_parse_error(str(error), explain.option_names(parser, args, LitDLCLI.subcommands()))) from error
    checks.check_parsed(config[config.subcommand], config.subcommand, DATA_LINKS)
