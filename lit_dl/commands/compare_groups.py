"""`lit-dl compare --group`: the runs that differ only by seed (`seed_everything`) as one row each:
n, mean ± standard deviation and 95% Student-t confidence interval of the best validation metric
and of each test metric; `--vs A B` adds Welch's t-test between two groups; `--plot` draws each
group's mean curve with a band of ± one standard deviation."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lit_dl.commands import compare
from lit_dl.commands.statistics import estimate, welch
from lit_dl.errors import UserError
from lit_dl.run.reader import Run

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
        settings = sorted((key, repr(value)) for key, value in run.config.items() if key not in compare.NOT_SETTINGS and key not in SEED_KEYS)
        groups.setdefault(repr(settings), []).append(run)
    return list(groups.values())


def build_groups(runs: list[Run], metric: str, higher: bool) -> list[Group]:
    """The groups, best mean first, each labelled by the settings that differ between groups."""
    grouped = group_runs(runs)
    keys = [key for key in compare.differing_settings([members[0] for members in grouped]) if key not in SEED_KEYS]
    names = compare.short_names(keys, [key for run in runs for key in run.config])

    def label(members: list[Run]) -> str:
        shown = [f"{compare.ALIASES.get(names[k], names[k])}={_short(compare._setting(members[0].config.get(k)))}" for k in keys]
        return " ".join(shown) or "all runs"

    def mean(members: list[Run]) -> float:
        values = [v for v in (run.best(metric, higher) for run in members) if v is not None]
        return (-1 if higher else 1) * (sum(values) / len(values)) if values else math.inf

    ordered = sorted(grouped, key=mean)
    return [Group(i + 1, label(members), members) for i, members in enumerate(ordered)]


def _short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def group_columns(groups: list[Group], metric: str, higher: bool) -> list[compare.Column]:
    columns = [
        compare.Column("group", "group", [str(group.number) for group in groups]),
        compare.Column("settings", "settings", [group.label for group in groups]),
        compare.Column("n", "n", [len(group.runs) for group in groups]),
    ]
    tests = sorted({key for group in groups for run in group.runs for key in (run.results.get("test") or {})})
    metrics = [(metric, f"{metric} (best)", lambda run: run.best(metric, higher))]
    metrics += [(key, key, lambda run, key=key: (run.results.get("test") or {}).get(key)) for key in tests]
    for key, header, value_of in metrics:
        estimates = [_estimate([value_of(run) for run in group.runs]) for group in groups]
        columns.append(compare.Column(key, f"{header} mean ± std", estimates, compare._higher_is_better(key), True))
        columns.append(compare.Column(f"{key} ci", "95% CI", [e.interval if e else None for e in estimates], is_metric=True))
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


def main(args: Any, runs: list[Run]) -> None:
    """compare's table, one row per group (--group), with Welch's test (--vs) and bands (--plot)."""
    monitor, higher = runs[0].monitor
    metric = args.metric or monitor
    higher = higher if metric == monitor else compare._higher_is_better(metric)
    groups = build_groups(runs, metric, higher)
    columns = group_columns(groups, metric, higher)
    rows = list(range(len(groups)))
    if args.format == "table":
        compare.print_table(columns, rows, width=10_000)
    else:
        sys.stdout.write(compare.render(columns, rows, args.format))
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

    path = compare._plot_file(Path(path), metric, x)
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
        if x == "epoch":
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
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
