"""`lit-dl check RUN_DIR...`: is each run whole? One line per broken promise (lit_dl.run.check),
`ok RUN_DIR` for each whole run; exit code 0 when all are whole, 1 otherwise.

A run's config.yaml must also rerun: it is parsed with `fit`'s own parser (Lightning is loaded
for that only when some run has a config)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lit_dl.run.check import check_record
from lit_dl.run.layout import RunPaths
from lit_dl.run.reader import find_runs


def check_runs(run_dirs: list[Path], parse_config: Any = None) -> dict[Path, list[str]]:
    """Every run's broken promises ([] for a whole one); `parse_config(path)` raises when a
    config.yaml does not rerun (default: `config_reruns`)."""
    parse_config = parse_config or config_reruns
    found = {}
    for run_dir in run_dirs:
        problems = check_record(run_dir)
        config = RunPaths(run_dir).config
        if config.is_file():
            try:
                parse_config(config)
            except Exception as error:  # noqa: BLE001  whatever stops it from parsing is the finding
                problems.append(f"config.yaml does not rerun: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}")
        found[run_dir] = problems
    return found


def config_reruns(path: Path) -> None:
    """Parse `lit-dl fit --config PATH` as fit would (checks included), building nothing."""
    from lit_dl.cli.rebuild import parse_again

    args = ["fit", "--config", str(path)]
    if not _PARSERS:
        from lit_dl.cli import console
        from lit_dl.cli.rebuild import parse_only

        console.quiet_dependencies()
        _PARSERS.append(parse_only(args))  # building it parses the first config
        return
    parse_again(_PARSERS[0], args)


_PARSERS: list[Any] = []  # LitDLCLI's parser, built once per process (most of a check's time)


def build_parser() -> Any:
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(
        exit_on_error=False, prog="lit-dl check",
        description="Verify that runs are whole: last.ckpt is the newest state, every epoch validated and logged "
        "once, results.json agrees with metrics.csv and the checkpoints, no temporary file left, config.yaml reruns. "
        "One line per problem, `ok RUN` for a whole run; exit 1 when any run is not whole.",
    )
    parser.add_argument("runs", nargs="+", help="Run directories, directories holding runs, or globs ('runs/*/version_*').")
    return parser


def main(argv: list[str]) -> None:
    from lit_dl.commands.compare import parse

    args = parse(build_parser(), argv)
    broken = 0
    for run_dir, problems in check_runs(find_runs(args.runs)).items():
        if not problems:
            print(f"ok {run_dir}")
        for problem in problems:
            print(f"{run_dir}: {problem}")
        broken += bool(problems)
    sys.stdout.flush()
    if broken:
        raise SystemExit(1)
