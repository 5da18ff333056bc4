"""The `lit-dl` entry point. Imports no Lightning: `compare`, `sweep` and `plot` need none and
start fast; `fit`, `validate`, `test` and `predict` load `lit_dl.cli.app` (LitDLCLI).

A user's mistake ends in one line and exit code 2; a bug of ours shows its traceback;
`LIT_DL_DEBUG=1` always does.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

# Commands that need no Trainer: module path of a `main(argv)` each.
EXTRA_COMMANDS = {
    "compare": "lit_dl.commands.compare",
    "sweep": "lit_dl.commands.sweep",
    "plot": "lit_dl.commands.plot",
}
# Every command, one line each, for `lit-dl --help` (fit..predict also head their own --help).
COMMANDS = {
    "fit": "Train an experiment, then test its best checkpoint.",
    "validate": "Evaluate a checkpoint on the validation set, recorded in its run.",
    "test": "Evaluate a checkpoint on the test set, recorded in its run.",
    "predict": "Predict with a checkpoint; writes predictions.pt into its run.",
    "lr-find": "Suggest a learning rate for an experiment and the flag to set it.",
    "compare": "Table and learning curves of runs: settings that differ, metrics.",
    "sweep": "Grid or random search: one run per trial, then a compare table.",
    "plot": "Figures for the docs: activation functions and their derivatives.",
}
# As the user had it: `import lightning` overwrites it (see lit_dl.training.speed.restore_cuda_check).
USER_NVML_CUDA_CHECK = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")
DESCRIPTION = (
    "Train, evaluate and compare deep-learning experiments described in YAML.\n\ncommands:\n"
    + "".join(f"  {name:<9} {line}\n" for name, line in COMMANDS.items())
    + "\n`lit-dl COMMAND --help` for a command's flags; start with\n"
    "  lit-dl fit --config experiments/quickstart.yaml"
)


def run(argv: list[str] | None = None) -> None:
    """Run lit-dl on `argv` (the process's arguments by default); errors propagate."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "lr-find":  # LightningCLI names a subcommand after its Trainer method
        argv[0] = "lr_find"
    if argv and argv[0] in EXTRA_COMMANDS:
        importlib.import_module(EXTRA_COMMANDS[argv[0]]).main(argv[1:])
        return
    from lit_dl.cli.console import quiet_dependencies

    quiet_dependencies()
    from lit_dl.cli.app import LitDLCLI

    # LightningCLI reads sys.argv itself; handing it a copy too only earns a warning.
    LitDLCLI(args=None if argv == sys.argv[1:] else argv)


def main(argv: list[str] | None = None) -> None:
    """The `lit-dl` console script."""
    from lit_dl.errors import CommandLineError, RunPruned, UserError

    debug = os.environ.get("LIT_DL_DEBUG") == "1"
    try:
        run(argv)
    except RunPruned as stop:  # a sweep's pruner ended the run: an outcome, not an error (exit 0)
        _pruned(stop)
    except CommandLineError as error:
        if debug:
            raise
        from lit_dl.cli.explain import explain_parse_error

        _fail(explain_parse_error(str(error), error.options))
    except UserError as error:
        if debug:
            raise
        _fail(str(error))
    except Exception as error:
        message = _user_error_message(error)
        if message is None or debug:
            raise
        _fail(message)


def _pruned(stop: BaseException) -> None:
    from lit_dl.run.environment import process_rank

    if process_rank() == 0:  # the message, then the run directory, as a finished fit ends
        print(stop, *[stop.run_dir] if getattr(stop, "run_dir", None) else [], sep="\n", flush=True)


def _fail(message: str) -> None:
    from lit_dl.run.environment import process_rank

    if process_rank() == 0:  # every DDP process fails alike; one line is enough
        print(f"lit-dl: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _user_error_message(error: BaseException) -> str | None:
    """A one-line message for an exception caused by the user's input; None for our bugs."""
    from lit_dl.errors import UserError

    from lit_dl.run.files import filesystem_problem

    # jsonargparse and Lightning wrap the user's mistake; the root cause says what it was.
    seen: Any = error
    while seen is not None:
        if isinstance(seen, UserError):
            return str(seen)
        problem = filesystem_problem(seen)  # a full disk, a read-only root, a file in the way
        if problem:
            return problem
        seen = seen.__cause__ or seen.__context__
    return None


if __name__ == "__main__":
    main()
