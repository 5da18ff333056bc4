"""The `lit-dl` entry point. Imports no Lightning: `compare`, `sweep`, `check` and `plot` need
none and start fast; the Trainer-backed commands (lit_dl.cli.table) load `lit_dl.cli.app`.

A user's mistake ends in one line and exit code 2; a bug of ours shows its traceback;
`LIT_DL_DEBUG=1` always does.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

# Before any framework: `import lightning` overwrites a variable the console module remembers.
from lit_dl.cli import console
from lit_dl.cli.table import BY_NAME


def run(argv: list[str] | None = None) -> None:
    """Run lit-dl on `argv` (the process's arguments by default); errors propagate."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = BY_NAME.get(argv[0]) if argv else None
    if command is not None and not command.trainer:
        importlib.import_module(command.module).main(argv[1:])
        return
    if command is not None:
        argv[0] = command.method  # LightningCLI names a subcommand after its Trainer method
    from lit_dl.cli.config_files import check_experiment_given

    check_experiment_given(argv)
    console.quiet_dependencies()
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
    except KeyboardInterrupt:
        if debug:
            raise
        _fail("aborted by Ctrl-C", exit_code=130)  # before the run began, or while it was being recorded
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


def _fail(message: str, exit_code: int = 2) -> None:
    from lit_dl.run.environment import process_rank

    if process_rank() == 0:  # every DDP process fails alike; one line is enough
        print(f"lit-dl: {'error: ' if exit_code == 2 else ''}{message}", file=sys.stderr)
    raise SystemExit(exit_code)


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
