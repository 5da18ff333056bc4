"""`lit-dl compare RUN_DIR_OR_GLOB...`: one table of runs, and their learning curves.

Everything comes from files a run leaves behind (config.yaml, metrics.csv, results.json), so it
works on a cluster node without W&B, on runs that are still going, and on copied-back directories.
rich and matplotlib are imported only when a table is printed or a figure drawn.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lit_dl.commands.statistics import estimate, welch
from lit_dl.errors import CommandLineError, UserError
from lit_dl.run.check import check_record
from lit_dl.run.reader import Run, find_runs, load_run
from lit_dl.run.results import STATUSES

# Config keys that say where or under which name a run was written, not how it was trained.
NOT_SETTINGS = {"trainer.default_root_dir", "name"}
SHORT_HEADER = 9  # headers up to this long stay on one line; longer ones break at / _ . and spaces
# Shorter headers for settings whose own name is long.
ALIASES = {"seed_everything": "seed"}
# A metric one of whose words (between / _ - .) is one of these is better when higher: val/acc,
# test/f1_macro, test/precision/cat, val/map50; any other (loss, mse, mae, mape, ...) when lower.
HIGHER_IS_BETTER = re.compile(r"(?:^|[/_.-])(?:acc|accuracy|f1|auroc|auc|ap|precision|recall|r2|iou|dice|map|score)(?=$|[/_.\-\d])")
CLASS_PATH = re.compile(r"(?:[a-z_]\w*\.)+[A-Z]\w*")


class Disputed(float):
    """A best value that results.json records but metrics.csv lacks (a metrics.csv cut short):
    shown marked, with `note` saying why."""

    note: str

    def __new__(cls, value: float, note: str) -> Disputed:
        made = super().__new__(cls, value)
        made.note = note
        return made


@dataclass
class Column:
    key: str  # what --sort names
    header: str
    values: list[Any]
    higher_is_better: bool = False
    is_metric: bool = False
    caption: str | None = None  # what the run column's names are relative to


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


def shown_status(run: Run) -> str:
    """The status, marked `!` when the run breaks one of its promises (`lit-dl check` says which)."""
    return run_status(run) + ("!" if run_problems(run) else "")


def run_problems(run: Run) -> list[str]:
    """What `lit-dl check` finds wrong with a run, from its files beside the checkpoints."""
    return check_record(run.path, read_checkpoints=False) if run.results.get("status") else []


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


def build_columns(runs: list[Run], metric: str | None = None, sort: str | None = None, mode: str | None = None) -> list[Column]:
    """Run name, status, differing settings, best validation metric, test metrics, epochs, wall time.
    The metric is the runs' checkpoint monitor unless `metric` names another; `mode` (min or max)
    overrides which way is better for it."""
    monitor, higher = runs[0].monitor
    if metric:
        _check_logged(runs, metric)
        monitor, higher = metric, higher if metric == monitor else _higher_is_better(metric)
    if mode:
        higher = mode == "max"
    settings = differing_settings(runs)
    all_keys = [key for run in runs for key in run.config]
    names = {key: ALIASES.get(name, name) for key, name in short_names(settings, all_keys).items()}
    columns = [Column("run", "run", run_names(runs)), Column("status", "status", [shown_status(run) for run in runs])]
    columns += [Column(key, names[key], [_setting(run.config.get(key)) for run in runs]) for key in settings]
    first_metric = len(columns)
    columns.append(Column(monitor, f"{monitor} (best)", [best_recorded(run, monitor, higher) for run in runs], higher, True))
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
            known = list(dict.fromkeys(shown + sorted(logged - {"epoch", "step"})))
            raise UserError(f"cannot sort by '{sort}': no such column or logged metric; {_did_you_mean(sort, known)}choose one of {', '.join(known)}")
        higher = _higher_is_better(sort)
        columns.insert(first_metric, Column(sort, f"{sort} (best)", [best_recorded(run, sort, higher) for run in runs], higher, True))
    return columns


def logged_metrics(runs: list[Run]) -> list[str]:
    """Every metric a run logged in metrics.csv or recorded in results.json."""
    logged = {key for run in runs for row in run.metrics for key in row} - {"epoch", "step"}
    recorded = {key for run in runs for section in ("val", "test") for key in (run.results.get(section) or {})}
    return sorted(logged | recorded)


def _check_logged(runs: list[Run], metric: str) -> None:
    logged = logged_metrics(runs)
    if metric not in logged:
        raise UserError(f"--metric '{metric}': no run logged it; {_did_you_mean(metric, logged)}the runs logged {', '.join(logged) or 'nothing'}")


def _did_you_mean(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'? " if match else ""


def best_recorded(run: Run, metric: str, higher: bool) -> float | None:
    """The best value of `metric` in metrics.csv; results.json's, marked Disputed, when that one
    is better: metrics.csv then lacks the rows where the run reached it."""
    best = run.best(metric, higher)
    recorded = (run.results.get("val") or {}).get(metric)
    if best is None or not isinstance(recorded, (int, float)) or math.isclose(recorded, best, rel_tol=1e-6):
        return best
    if (recorded > best) != higher:
        return best
    return Disputed(recorded, f"{run.path}: results.json records {metric} {recorded:.4g}, better than the best in its "
                    f"metrics.csv ({best:.4g}), so metrics.csv lacks rows (was it cut short?); the table shows results.json's value")


def choose_columns(columns: list[Column], names: list[str], runs: list[Run] | None = None) -> list[Column]:
    """The run column and the columns `names` name (by config key, header or short name), in that
    order; a setting that is the same in every run of `runs` too."""
    chosen = [columns[0]]
    for name in names:
        column = _find_column(columns, name)
        if column is None and runs:
            column = setting_column(runs, name)
        if column is None:
            known = [c.header.removesuffix(" (best)") for c in columns[1:]]
            raise UserError(f"--columns: no column '{name}'; {_did_you_mean(name, known)}choose from {', '.join(known)} or any setting")
        if column not in chosen:
            chosen.append(column)
    return chosen


def setting_column(runs: list[Run], name: str) -> Column | None:
    """The column of the one config key that `name` names: the key, its dotted tail without
    `init_args` (`lr`, `optimizer.init_args.lr`) or its alias (`seed`)."""
    wanted = [part for part in {alias: key for key, alias in ALIASES.items()}.get(name, name).split(".") if part != "init_args"]
    keys = dict.fromkeys(key for run in runs for key in run.config if key not in NOT_SETTINGS)
    found = [key for key in keys if [part for part in key.split(".") if part != "init_args"][-len(wanted):] == wanted]
    if len(found) > 1:
        raise UserError(f"--columns: '{name}' could be {' or '.join(found)}; give more of the key")
    return Column(found[0], name, [_setting(run.config.get(found[0])) for run in runs]) if found else None


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
    return bool(HIGHER_IS_BETTER.search(metric.lower()))


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
    if isinstance(value, Disputed):
        return f"{value:.4g}*"
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


# The order in which columns give way when a table is wider than the terminal: the last first.
def _priority(column: Column, monitor: Column) -> int:
    if column.key in ("run", "status") or column is monitor:
        return 0
    if not column.is_metric:
        return 1 if column.key not in ("epochs", "wall_time") else 3
    return 2 if re.fullmatch(r"test/(acc|loss|mse|mae|f1_macro)", column.key) else 4


def fit_width(columns: list[Column], rows: list[int], width: int | None) -> tuple[list[Column], list[Column]]:
    """The columns of a table at most `width` characters wide, and those left out."""
    if width is None:
        return columns, []
    metrics = [c for c in columns if c.is_metric]
    monitor = metrics[0] if metrics else columns[0]
    order = sorted(range(len(columns)), key=lambda i: (_priority(columns[i], monitor), i))
    kept, used = set(), -1
    for i in order:
        need = _cell_width(columns[i], rows) + 3  # a space of padding on each side, one between columns
        if used + need <= width or i == 0:
            kept.add(i)
            used += need
    return [c for i, c in enumerate(columns) if i in kept], [c for i, c in enumerate(columns) if i not in kept]


def _cell_width(column: Column, rows: list[int]) -> int:
    """The widest cell, or the widest unbreakable piece of the header when that is wider."""
    cells = max((len(cell(column.values[i], column)) for i in rows), default=1)
    whole = min(len(column.header), SHORT_HEADER)
    return max(cells, whole, *(len(piece) for piece in _header_pieces(column.header)))


def _header_pieces(header: str) -> list[str]:
    """`val/loss (best)` -> `val/`, `loss`, `(best)`: where a header may break onto a new line."""
    return [piece for piece in re.split(r"(?<=[/_.])|\s+", header) if piece]


def _wrapped_header(header: str, width: int) -> str:
    lines = [""]
    for piece in _header_pieces(header):
        joiner = "" if lines[-1].endswith(("/", "_", ".")) or not lines[-1] else " "
        if lines[-1] and len(lines[-1] + joiner + piece) > width:
            lines.append(piece)
        else:
            lines[-1] += joiner + piece
    return "\n".join(lines)


def print_table(columns: list[Column], rows: list[int], width: int | None = None) -> None:
    """A table for a terminal: as many columns as fit `width` (the terminal's by default)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if width is None and (console.is_terminal or os.environ.get("COLUMNS")):
        width = console.width
    columns, left_out = fit_width(_shorter_run_names(columns), rows, width)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=columns[0].caption, title_justify="left")
    for column in columns:
        numeric = column.is_metric or column.key in ("epochs", "wall_time")
        size = _cell_width(column, rows)
        header = _wrapped_header(column.header, size)
        table.add_column(header, justify="right" if numeric else "left", min_width=size, no_wrap=True)
    for i in rows:
        table.add_row(*(cell(c.values[i], c) for c in columns))
    if width is None:  # a file or a pipe has no width to squeeze the table into
        console = Console(width=Console(width=10_000).measure(table).maximum, highlight=False)
    console.print(table)
    if left_out:
        names = ", ".join(c.header.removesuffix(" (best)") for c in left_out[:4]) + (", ..." if len(left_out) > 4 else "")
        console.print(f"{len(left_out)} more column(s) not shown: {names}; pick with --columns, all with --format csv", soft_wrap=False)


def _shorter_run_names(columns: list[Column]) -> list[Column]:
    """Runs of one experiment by their version alone, the experiment as the table's title."""
    names = columns[0].values
    parents = {str(Path(name).parent) for name in names}
    if len(parents) != 1 or parents == {"."}:
        return columns
    return [Column("run", "run", [Path(name).name for name in names], caption=parents.pop()), *columns[1:]]


def plot_curves(runs: list[Run], path: str | Path, metric: str, x: str = "step", labels: list[str] | None = None) -> Path:
    """One line per run of `metric` against `x`, the legend below the axes; returns the file written.

    `path` is a file (any format matplotlib writes), or a directory (an existing one, one ending in
    `/`, or a name without a suffix) to write `<metric>_by_<x>.png` into."""
    import matplotlib.pyplot as plt

    path = _plot_file(Path(path), metric, x)
    figure = draw_curves(runs, metric, x, labels)
    try:
        figure.savefig(path, dpi=200)
    except ValueError as error:  # an extension matplotlib has no writer for
        raise UserError(f"cannot save the plot to {path}: {error}; use .png, .pdf or .svg") from error
    finally:
        plt.close(figure)
    return path


def draw_curves(runs: list[Run], metric: str, x: str = "step", labels: list[str] | None = None) -> Any:
    """The figure of `plot_curves`: axes of a fixed size, the legend outside them, below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    labels = labels or run_names(runs)
    curves = [(label, run.series(metric, x)) for run, label in zip(runs, labels)]
    curves = [(label, xs, ys) for label, (xs, ys) in curves if xs]
    if not curves:
        logged = sorted({key for run in runs for row in run.metrics for key in row} - {"epoch", "step"})
        raise UserError(f"no run logged '{metric}'; pick a metric with --metric: {', '.join(logged) or 'none logged'}")
    legend_columns = 1 if max(len(label) for label, _, _ in curves) > 40 else 2
    legend_rows = math.ceil(len(curves) / legend_columns)
    with plt.rc_context({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False}):
        figure, ax = plt.subplots(figsize=(6.0, 3.6 + 0.2 * legend_rows), layout="constrained")
        for label, xs, ys in curves:
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, linewidth=1.4, label=label)
        values = [y for _, _, ys in curves for y in ys if y > 0 and math.isfinite(y)]
        if not _higher_is_better(metric) and values and max(values) / min(values) > 30:
            ax.set_yscale("log")  # a loss falling over decades
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # steps and epochs are counts
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3, linewidth=0.6)
        figure.legend(loc="outside lower center", ncols=legend_columns, frameon=False, fontsize="small")
    return figure


def _plot_file(path: Path, metric: str, x: str) -> Path:
    """The file `--plot PATH` names: PATH itself, or a file inside PATH when it is a directory."""
    if path.is_dir() or str(path).endswith(("/", os.sep)) or not path.suffix:
        if path.exists() and not path.is_dir():
            raise UserError(f"cannot write the plot into {path}: it is a file; give a directory or a file name ending in .png")
        path = path / f"{metric.replace('/', '_')}_by_{x}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create {path.parent} for the plot: {error.strerror}; give a writable place") from error
    return path


# -- command ------------------------------------------------------------------------------------
def parse(parser: Any, argv: list[str]) -> Any:
    """`parser.parse_args(argv)`, a mistake ending as one line (a UserError) like `lit-dl fit`'s."""
    from argparse import ArgumentError

    try:
        return parser.parse_args(argv)
    except ArgumentError as error:
        from lit_dl.internals import option_names

        raise CommandLineError(str(error), option_names(parser)) from error


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
    parser.add_argument("--mode", type=Literal["min", "max"] | None, default=None, help="Whether lower (min) or higher (max) --metric is better; default: max for accuracy, F1, precision, recall, AUC, IoU, Dice, R2 and scores, min for the rest (loss, MSE, MAE).")
    parser.add_argument("--format", type=Literal["table", "markdown", "csv"], default="table", help="table (rich, for a terminal), markdown or csv.")
    parser.add_argument("--plot", type=str | None, default=None, help="Draw the learning curves of --metric into this file (curves.png, .pdf, .svg) or directory.")
    parser.add_argument("--x", type=Literal["step", "epoch"], default="step", help="The plot's x axis.")
    parser.add_argument("--columns", type=str | None, default=None, help="The columns to show, comma-separated (status,lr,test/acc); default: what fits the terminal.")
    add_group_arguments(parser)
    return parser


def add_group_arguments(parser: Any) -> None:
    parser.add_argument("--group", action="store_true", help="One row per group of runs that differ only by seed: n, mean ± std, 95%% CI (Student t).")
    parser.add_argument("--vs", type=str, nargs=2, default=None, help="With --group: Welch's t-test between two groups (by number or settings) on --metric.")


def main(argv: list[str]) -> None:
    args = parse(build_parser(), argv)
    runs = with_status([load_run(path) for path in find_runs(args.runs)], args.status)
    if args.group or args.vs:
        return main_grouped(args, runs)
    columns = build_columns(runs, metric=args.metric, sort=args.sort, mode=args.mode)
    rows = sort_rows(columns, args.sort, args.reverse) if args.sort else list(range(len(runs)))
    if args.reverse and not args.sort:
        rows.reverse()
    shown = choose_columns(columns, [name.strip() for name in args.columns.split(",") if name.strip()], runs) if args.columns else columns
    if args.format == "table":
        print_table(shown, rows, width=10_000 if args.columns else None)
    else:
        sys.stdout.write(render(shown, rows, args.format))
    for note in dict.fromkeys(value.note for column in shown for value in column.values if isinstance(value, Disputed)):
        print(f"* {note}", file=sys.stderr)
    for run in runs:
        problems = run_problems(run)
        if problems:
            print(f"! {run.path} is not whole: {problems[0]} (lit-dl check {run.path} lists all)", file=sys.stderr)
    if args.plot:
        metric = args.metric or runs[0].monitor[0]
        written = plot_curves(runs, args.plot, metric, args.x, plot_labels(columns))
        print(f"learning curves: {written}", file=sys.stderr)


def plot_labels(columns: list[Column], most: int = 3) -> list[str]:
    """`version_3  max_lr=0.01, seed=1`: each run by its name and the few settings that set it apart."""
    names = _shorter_run_names(columns)[0].values
    settings = [c for c in columns[2:] if not c.is_metric and c.key not in ("epochs", "wall_time")][:most]
    labels = []
    for i, name in enumerate(names):
        told = ", ".join(f"{c.header}={cell(c.values[i], c)}" for c in settings)
        labels.append(f"{name}  {told}" if told else name)
    return labels


# -- runs that differ only by seed (--group, --vs) ------------------------------------------------
# One row per group: n, mean ± standard deviation and 95% Student-t confidence interval of the best
# validation metric and of each test metric; `--vs A B` Welch's t-test between two groups; `--plot`
# each group's mean curve with a band of ± one standard deviation.
SEED_KEYS = ("seed_everything",)


@dataclass
class Group:
    number: int  # 1-based, in the table's order
    label: str  # `max_lr=0.01 dropout=0.1`: the settings that set it apart
    runs: list[Run]


def group_runs(runs: list[Run]) -> list[list[Run]]:
    """Runs with the same config but for the seed, in the order their first run comes."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        settings = sorted((key, repr(value)) for key, value in run.config.items() if key not in NOT_SETTINGS and key not in SEED_KEYS)
        groups.setdefault(repr(settings), []).append(run)
    return list(groups.values())


def build_groups(runs: list[Run], metric: str, higher: bool) -> list[Group]:
    """The groups, best mean first, each labelled by the settings that differ between groups."""
    grouped = group_runs(runs)
    keys = [key for key in differing_settings([members[0] for members in grouped]) if key not in SEED_KEYS]
    names = short_names(keys, [key for run in runs for key in run.config])

    def label(members: list[Run]) -> str:
        shown = [f"{ALIASES.get(names[k], names[k])}={_short(_setting(members[0].config.get(k)))}" for k in keys]
        return " ".join(shown) or "all runs"

    def mean(members: list[Run]) -> float:
        values = [v for v in (run.best(metric, higher) for run in members) if v is not None]
        return (-1 if higher else 1) * (sum(values) / len(values)) if values else math.inf

    ordered = sorted(grouped, key=mean)
    return [Group(i + 1, label(members), members) for i, members in enumerate(ordered)]


def _short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def group_columns(groups: list[Group], metric: str, higher: bool) -> list[Column]:
    columns = [
        Column("group", "group", [str(group.number) for group in groups]),
        Column("settings", "settings", [group.label for group in groups]),
        Column("n", "n", [len(group.runs) for group in groups]),
    ]
    tests = sorted({key for group in groups for run in group.runs for key in (run.results.get("test") or {})})
    metrics = [(metric, f"{metric} (best)", lambda run: run.best(metric, higher))]
    metrics += [(key, key, lambda run, key=key: (run.results.get("test") or {}).get(key)) for key in tests]
    for key, header, value_of in metrics:
        estimates = [_estimate([value_of(run) for run in group.runs]) for group in groups]
        columns.append(Column(key, f"{header} mean ± std", estimates, _higher_is_better(key), True))
        columns.append(Column(f"{key} ci", "95% CI", [e.interval if e else None for e in estimates], is_metric=True))
    return columns


def _estimate(values: list[Any]):
    present = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return estimate(present) if present else None


def find_group(groups: list[Group], name: str) -> Group:
    """A group by its number, its settings label, or the path of one of its runs."""
    for group in groups:
        if name in (str(group.number), group.label) or any(Path(name).resolve() == run.path.resolve() for run in group.runs):
            return group
    shown = "; ".join(f"{g.number}: {g.label}" for g in groups)
    raise UserError(f"--vs: no group '{name}'; name a group by its number or its settings ({shown})")


def welch_line(groups: list[Group], names: list[str], metric: str, higher: bool) -> str:
    first, second = (find_group(groups, name) for name in names)
    values = [[v for v in (run.best(metric, higher) for run in group.runs) if v is not None] for group in (first, second)]
    for group, found in zip((first, second), values):
        if len(found) < 2:
            raise UserError(f"--vs: group {group.number} ({group.label}) has {len(found)} run(s) with {metric}; "
                            "Welch's t-test needs two or more in each (more seeds: lit-dl sweep --seeds K)")
    test = welch(*values)
    means = [sum(found) / len(found) for found in values]
    return (f"{metric} (best): group {first.number} ({first.label}) {means[0]:.4g} vs group {second.number} "
            f"({second.label}) {means[1]:.4g}: difference {means[0] - means[1]:+.4g}, Welch's t = {test.t:.3f}, "
            f"df = {test.df:.1f}, p = {test.p:.3g}")


def main_grouped(args: Any, runs: list[Run]) -> None:
    """compare's table, one row per group (--group), with Welch's test (--vs) and bands (--plot)."""
    monitor, higher = runs[0].monitor
    metric = args.metric or monitor
    if args.metric:
        _check_logged(runs, metric)
        higher = higher if metric == monitor else _higher_is_better(metric)
    if getattr(args, "mode", None):
        higher = args.mode == "max"
    groups = build_groups(runs, metric, higher)
    columns = group_columns(groups, metric, higher)
    rows = list(range(len(groups)))
    if args.format == "table":
        print_table(columns, rows, width=10_000)
    else:
        sys.stdout.write(render(columns, rows, args.format))
    if args.vs:
        print(welch_line(groups, list(args.vs), metric, higher))
    if args.plot:
        written = plot_group_curves(groups, args.plot, metric, args.x)
        print(f"learning curves: {written}", file=sys.stderr)


def plot_group_curves(groups: list[Group], path: str | Path, metric: str, x: str) -> Path:
    """Each group's mean curve of `metric` with a band of ± one standard deviation across its runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    path = _plot_file(Path(path), metric, x)
    with plt.rc_context({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False}):
        figure, ax = plt.subplots(figsize=(6.0, 3.6 + 0.2 * len(groups)), layout="constrained")
        drawn = 0
        for group in groups:
            xs, means, stds = _mean_curve(group.runs, metric, x)
            if not xs:
                continue
            line, = ax.plot(xs, means, linewidth=1.4, label=f"{group.number}: {group.label} (n={len(group.runs)})")
            ax.fill_between(xs, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)], color=line.get_color(), alpha=0.2, linewidth=0)
            drawn += 1
        if not drawn:
            plt.close(figure)
            raise UserError(f"no run logged '{metric}'; pick a metric with --metric")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # steps and epochs are counts
        ax.set_xlabel(x)
        ax.set_ylabel(f"{metric} (mean ± std over seeds)")
        ax.grid(alpha=0.3, linewidth=0.6)
        figure.legend(loc="outside lower center", ncols=1, frameon=False, fontsize="small")
        figure.savefig(path, dpi=200)
    plt.close(figure)
    return path


def _mean_curve(runs: list[Run], metric: str, x: str) -> tuple[list[float], list[float], list[float]]:
    by_x: dict[float, list[float]] = {}
    for run in runs:
        for at, value in zip(*run.series(metric, x)):
            by_x.setdefault(at, []).append(value)
    xs = sorted(by_x)
    found = [estimate(by_x[at]) for at in xs]
    return xs, [e.mean for e in found], [e.std or 0.0 for e in found]
