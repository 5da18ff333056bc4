"""Every `lit-dl` command, one row each. Imports nothing: the entry point reads it before any
framework loads, so `compare`, `sweep`, `check` and `plot` start fast.

Two kinds of command:
- Trainer-backed (`trainer=True`): LightningCLI subcommands run on the experiment's model, data
  and Trainer with fit's flags and run-directory rules. LightningCLI's own (fit, validate,
  test, predict) have no module; another one names a module holding `TrainerMethod` (a Trainer
  mixin whose method of the command's name LightningCLI turns into the subcommand and its
  flags), `CLISteps` (a LitDLCLI mixin: the method that runs it and its `before_`/`after_`
  steps) and `FILLED` (the method's arguments the CLI fills itself). Adding one is a row here
  and that module.
- Plain: a module with `main(argv)`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str  # as typed
    summary: str  # one line for `lit-dl --help`
    module: str | None = None
    trainer: bool = False

    @property
    def method(self) -> str:
        """Its name as a Python method (LightningCLI's subcommand name): lr-find -> lr_find."""
        return self.name.replace("-", "_")


COMMANDS = (
    Command("fit", "Train an experiment, then test its best checkpoint.", trainer=True),
    Command("validate", "Evaluate a checkpoint on the validation set, recorded in its run.", trainer=True),
    Command("test", "Evaluate a checkpoint on the test set, recorded in its run.", trainer=True),
    Command("predict", "Predict with a checkpoint; writes predictions.pt into its run.", trainer=True),
    Command("lr-find", "Suggest a learning rate for an experiment and the flag to set it.", "lit_dl.cli.lr_find", trainer=True),
    Command("check", "Verify that runs are whole: one line per problem, exit 1 when any.", "lit_dl.cli.run_check"),
    Command("compare", "Table and learning curves of runs: settings that differ, metrics.", "lit_dl.commands.compare"),
    Command("sweep", "Grid or random search: one run per trial, then a compare table.", "lit_dl.commands.sweep"),
    Command("export", "A trained run as an ONNX, torch.export or safetensors file, checked.", "lit_dl.export.main"),
    Command("plot", "Figures for the docs: activation functions and their derivatives.", "lit_dl.commands.plot"),
)
BY_NAME = {command.name: command for command in COMMANDS}

DESCRIPTION = (
    "Train, evaluate and compare deep-learning experiments described in YAML.\n\ncommands:\n"
    + "".join(f"  {c.name:<9} {c.summary}\n" for c in COMMANDS)
    + "\n`lit-dl COMMAND --help` for a command's flags; start with\n"
    "  lit-dl fit --config experiments/quickstart.yaml"
)
