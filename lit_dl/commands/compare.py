"""`lit-dl compare RUN_DIR_OR_GLOB...`: one table of runs, and their learning curves.

Everything comes from files a run leaves behind (config.yaml, metrics.csv, results.json), so it
works on a cluster node without W&B, on runs that are still going, and on copied-back directories.
rich and matplotlib are imported only when a table is printed or a figure drawn.
"""

from __future__ import annotations

import csv
import glob
import io
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lit_dl.errors import CommandLineError, UserError
from lit_dl.run.reader import Run, find_runs, load_run
from lit_dl.run.results import STATUSES

# Config keys that say where or under which name a run was written, not how it was trained.
NOT_SETTINGS = {"trainer.default_root_dir", "name"}
# A metric whose name holds one of these is better when higher; any other (loss, mse, ...) when lower.
HIGHER_IS_BETTER = re.compile(r"acc|f1|auroc|auc|precision|recall|r2|iou|dice|map|score")
CLASS_PATH = re.compile(r"(?:[a-z_]\w*\.)+[A-Z]\w*")


@dataclass
class Column:
    key: str  # what --sort names
    header: str
    values: list[Any]
    higher_is_better: bool = False
    is_metric: bool = False


def run_names(runs: list[Run]) -> list[str]:
    """Each run's path below the directory all of them share, keeping `experiment/version_n`."""
    parents = [run.path.resolve().parent.parent for run in runs]
    common = Path(os.path.commonpath(parents)) if parents else Path()
    return [str(run.path.resolve().relative_to(common)) for run in runs]


def differing_settings(runs: list[Run]) -> list[str]:
    """The config keys whose values are not the same in every run, in config order."""
    keys = dict.fromkeys(key for run in runs for key in run.config if key not in NOT_SETTINGS)
    missing = object()
    return [key for key in keys if len({repr(run.config.get(key, missing)) for run in runs}) > 1]


def short_names(keys: list[str], all_keys: list[str]) -> dict[str, str]:
    """The shortest dotted tail of each key (without `init_args`) that no other config key ends in."""
    def parts(key: str) -> list[str]:
        return [part for part in key.split(".") if part != "init_args"]

    every = [parts(key) for key in dict.fromkeys(all_keys)]
    names = {}
    for key in keys:
        own = parts(key)
        for size in range(1, len(own) + 1):
            tail = own[-size:]
            if sum(other[-size:] == tail for other in every) <= 1:
                break
        names[key] = ".".join(tail)
    return names


def run_status(run: Run) -> str:
    """What results.json says; a run from before statuses were recorded counts as completed
    when it recorded its results, and as unknown otherwise."""
    status = run.results.get("status")
    if status:
        return str(status)
    return "completed" if "val" in run.results or "test" in run.results else "unknown"


def with_status(runs: list[Run], wanted: str | None) -> list[Run]:
    """The runs whose status is one of `wanted` (comma-separated); all runs for None."""
    if wanted is None:
        return runs
    statuses = [part.strip() for part in wanted.split(",") if part.strip()]
    unknown = [status for status in statuses if status not in (*STATUSES, "unknown")]
    if unknown or not statuses:
        raise UserError(f"--status {wanted!r} is not a run status; use one of {', '.join(STATUSES)} (or several, separated by commas)")
    kept = [run for run in runs if run_status(run) in statuses]
    if not kept:
        raise UserError(f"none of the {len(runs)} runs has status {wanted}; drop --status to see them all")
    return kept


def build_columns(runs: list[Run], metric: str | None = None, sort: str | None = None) -> list[Column]:
    """Run name, differing settings, best validation metric, test metrics, epochs, wall time."""
    monitor, higher = runs[0].monitor
    if metric:
        monitor, higher = metric, higher if metric == monitor else _higher_is_better(metric)
    settings = differing_settings(runs)
    all_keys = [key for run in runs for key in run.config]
    names = short_names(settings, all_keys)
    columns = [Column("run", "run", run_names(runs)), Column("status", "status", [run_status(run) for run in runs])]
    columns += [Column(key, names[key], [_setting(run.config.get(key)) for run in runs]) for key in settings]
    columns.append(Column(monitor, f"{monitor} (best)", [run.best(monitor, higher) for run in runs], higher, True))
    tests = sorted({key for run in runs for key in (run.results.get("test") or {})})
    for key in tests:
        values = [(run.results.get("test") or {}).get(key) for run in runs]
        columns.append(Column(key, key, values, _higher_is_better(key), True))
    columns.append(Column("epochs", "epochs", [run.epochs for run in runs]))
    columns.append(Column("wall_time", "wall time", [run.results.get("wall_time_s") for run in runs]))
    if sort and _find_column(columns, sort) is None:
        logged = {key for run in runs for row in run.metrics for key in row}
        if sort not in logged:
            shown = [c.key if c.key == "wall_time" else c.header.removesuffix(" (best)") for c in columns[1:]]
            known = dict.fromkeys(shown + sorted(logged - {"epoch", "step"}))
            raise UserError(f"cannot sort by '{sort}': no such column or logged metric; choose one of {', '.join(known)}")
        higher = _higher_is_better(sort)
        columns.insert(len(settings) + 1, Column(sort, f"{sort} (best)", [run.best(sort, higher) for run in runs], higher, True))
    return columns


def sort_rows(columns: list[Column], key: str, reverse: bool = False) -> list[int]:
    """Row order by column `key`: best first for metrics, ascending otherwise; empty cells last."""
    column = _find_column(columns, key)
    if column is None:
        raise UserError(f"cannot sort by '{key}'; choose one of {', '.join(c.header for c in columns)}")
    descending = column.is_metric and column.higher_is_better
    if reverse:
        descending = not descending
    present = [i for i, value in enumerate(column.values) if value is not None]
    absent = [i for i, value in enumerate(column.values) if value is None]

    def order(i: int) -> tuple:
        value = column.values[i]
        return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))

    return sorted(present, key=order, reverse=descending) + absent


def _find_column(columns: list[Column], key: str) -> Column | None:
    """The column `key` names by its config key, its header, or its header without "(best)"."""
    for column in columns:
        if key in (column.key, column.header, column.header.removesuffix(" (best)"), column.key.replace("_", " ")):
            return column
    return None


def _higher_is_better(metric: str) -> bool:
    return bool(HIGHER_IS_BETTER.search(metric.rsplit("/", 1)[-1].lower()))


def _setting(value: Any) -> Any:
    """A config value as a short table cell: a class by its name, a list of classes by their names."""
    if isinstance(value, dict) and "class_path" in value:
        return _setting(value["class_path"])
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return "[" + ", ".join(str(_setting(item)) for item in value) + "]"
    if isinstance(value, str) and CLASS_PATH.fullmatch(value):
        return value.rsplit(".", 1)[-1]
    return value


# -- output -------------------------------------------------------------------------------------
def cell(value: Any, column: Column, raw: bool = False) -> str:
    if value is None:
        return "" if raw else "-"
    if raw:
        return str(value)
    if column.key == "wall_time":
        return _duration(float(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def render(columns: list[Column], rows: list[int], fmt: str) -> str:
    """The table as markdown or CSV text; `table` is printed by `print_table` instead."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([_csv_header(c) for c in columns])
        writer.writerows([[cell(c.values[i], c, raw=True) for c in columns] for i in rows])
        return buffer.getvalue()
    lines = ["| " + " | ".join(c.header for c in columns) + " |"]
    lines.append("|" + "|".join("---:" if c.is_metric or c.key in ("epochs", "wall_time") else "---" for c in columns) + "|")
    lines += ["| " + " | ".join(cell(c.values[i], c).replace("|", "\\|") for c in columns) + " |" for i in rows]
    return "\n".join(lines) + "\n"


def _csv_header(column: Column) -> str:
    """Settings by their full config key, so that a script can feed them back as flags."""
    if column.key == "wall_time":
        return "wall_time_s"
    return column.header if column.is_metric or column.key in ("run", "epochs") else column.key


def print_table(columns: list[Column], rows: list[int]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in columns:
        numeric = column.is_metric or column.key in ("epochs", "wall_time")
        table.add_column(column.header, justify="right" if numeric else "left", no_wrap=column.key == "run")
    for i in rows:
        table.add_row(*(cell(c.values[i], c) for c in columns))
    console = Console()
    if not console.is_terminal:  # a file or a pipe has no width to squeeze the table into
        console = Console(width=Console(width=10_000).measure(table).maximum)
    console.print(table)


def plot_curves(runs: list[Run], path: str | Path, metric: str, x: str = "step", labels: list[str] | None = None) -> Path:
    """One line per run of `metric` against `x`, saved to `path` (any format matplotlib writes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    labels = labels or run_names(runs)
    drawn = 0
    figure, ax = plt.subplots(figsize=(7, 4.5))
    for run, label in zip(runs, labels):
        xs, ys = run.series(metric, x)
        if xs:
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=label)
            drawn += 1
    if not drawn:
        plt.close(figure)
        logged = sorted({key for run in runs for row in run.metrics for key in row} - {"epoch", "step"})
        raise UserError(f"no run logged '{metric}'; pick a metric with --metric: {', '.join(logged) or 'none logged'}")
    if x == "epoch":
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by {x}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(path, dpi=120)
    except ValueError as error:  # an extension matplotlib has no writer for
        raise UserError(f"cannot save the plot to {path}: {error}; use .png, .pdf or .svg") from error
    finally:
        plt.close(figure)
    return path


# -- command ------------------------------------------------------------------------------------
def parse(parser: Any, argv: list[str]) -> Any:
    """`parser.parse_args(argv)`, a mistake ending as one line (a UserError) like `lit-dl fit`'s."""
    from argparse import ArgumentError

    try:
        return parser.parse_args(argv)
    except ArgumentError as error:
        raise CommandLineError(str(error), [a.dest for a in parser._actions]) from error


def build_parser():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(
        exit_on_error=False,
        prog="lit-dl compare",
        description="Compare runs: the settings that differ, the best validation metric, test metrics, "
        "epochs and wall time, read from each run directory's config.yaml, metrics.csv and results.json.",
    )
    parser.add_argument("runs", nargs="+", help="Run directories, directories holding runs, or globs ('runs/*/version_*').")
    parser.add_argument("--status", type=str | None, default=None, help=f"Only runs with this status ({', '.join(STATUSES)}); several separated by commas.")
    parser.add_argument("--sort", type=str | None, default=None, help="Sort by a column or any logged metric (test/acc, val/loss, lr, epochs, wall_time); best first for metrics.")
    parser.add_argument("--reverse", action="store_true", help="Reverse the sort order.")
    parser.add_argument("--metric", type=str | None, default=None, help="Validation metric shown at its best and plotted (default: the runs' checkpoint.monitor).")
    parser.add_argument("--format", type=Literal["table", "markdown", "csv"], default="table", help="table (rich, for a terminal), markdown or csv.")
    parser.add_argument("--plot", type=str | None, default=None, help="Draw the learning curves of --metric to this file (curves.png).")
    parser.add_argument("--x", type=Literal["step", "epoch"], default="step", help="The plot's x axis.")
    return parser


def main(argv: list[str]) -> None:
    args = parse(build_parser(), argv)
    runs = with_status([load_run(path) for path in find_runs(args.runs)], args.status)
    columns = build_columns(runs, metric=args.metric, sort=args.sort)
    rows = sort_rows(columns, args.sort, args.reverse) if args.sort else list(range(len(runs)))
    if args.reverse and not args.sort:
        rows.reverse()
    if args.format == "table":
        print_table(columns, rows)
    else:
        sys.stdout.write(render(columns, rows, args.format))
    if args.plot:
        metric = args.metric or runs[0].monitor[0]
        labels = _plot_labels(columns)
        print(f"learning curves: {plot_curves(runs, args.plot, metric, args.x, labels)}", file=sys.stderr)


def _plot_labels(columns: list[Column]) -> list[str]:
    """`run (lr=0.01, seed_everything=1)`: the legend says what sets the lines apart."""
    settings = [c for c in columns[1:] if not c.is_metric and c.key not in ("epochs", "wall_time")]
    labels = []
    for i, name in enumerate(columns[0].values):
        told = ", ".join(f"{c.header}={cell(c.values[i], c)}" for c in settings)
        labels.append(f"{name} ({told})" if told else name)
    return labels
