"""Reading a run directory back: its config.yaml, metrics.csv and results.json."""

from __future__ import annotations

import csv
import glob
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lit_dl.errors import UserError
from lit_dl.run.config import flatten, read_config
from lit_dl.run.layout import METRICS_FILE, RESULTS_FILE, RunPaths
from lit_dl.run.results import read_results

RUN_FILES = (METRICS_FILE, RESULTS_FILE)


@dataclass
class Run:
    """One run directory, read."""

    path: Path
    config: dict[str, Any]  # flattened: "model.init_args.optimizer.init_args.lr" -> 0.003
    results: dict[str, Any]
    metrics: list[dict[str, float]] = field(default_factory=list)  # the rows of metrics.csv

    def series(self, metric: str, x: str = "step") -> tuple[list[float], list[float]]:
        """The logged values of `metric` against `x`; per-epoch means when `x` is "epoch"."""
        points = [(row[x], row[metric]) for row in self.metrics if metric in row and x in row]
        if x == "epoch":
            by_epoch: dict[float, list[float]] = {}
            for epoch, value in points:
                by_epoch.setdefault(epoch, []).append(value)
            points = [(epoch, sum(values) / len(values)) for epoch, values in sorted(by_epoch.items())]
        return [p[0] for p in points], [p[1] for p in points]

    def best(self, metric: str, higher_is_better: bool) -> float | None:
        """The best value `metric` reached; what results.json recorded when metrics.csv lacks it."""
        values = [row[metric] for row in self.metrics if metric in row and not math.isnan(row[metric])]
        if values:
            return max(values) if higher_is_better else min(values)
        for section in ("val", "test"):
            if metric in (self.results.get(section) or {}):
                return float(self.results[section][metric])
        return None

    @property
    def epochs(self) -> int | None:
        if isinstance(self.results.get("epochs"), int):
            return self.results["epochs"]
        logged = [row["epoch"] for row in self.metrics if "epoch" in row]
        return int(max(logged)) + 1 if logged else None

    @property
    def monitor(self) -> tuple[str, bool]:
        """The metric the run's checkpointing watched, and whether higher is better for it."""
        return self.config.get("checkpoint.monitor") or "val/loss", self.config.get("checkpoint.mode") == "max"


def find_runs(patterns: list[str]) -> list[Path]:
    """Run directories named by `patterns`: run directories, directories holding runs, or globs."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        for match in map(Path, matches):
            if _is_run_dir(match):
                found[match] = None
            elif match.is_dir():
                for marker in sorted(path for name in RUN_FILES for path in match.rglob(name)):
                    found[marker.parent] = None
            elif match.name in RUN_FILES:
                found[match.parent] = None
    if not found:
        raise UserError(
            f"no run directory found in {' '.join(patterns)}; pass run directories "
            "(holding metrics.csv or results.json), their parent, or a glob such as 'runs/quickstart/version_*'"
        )
    return sorted(found, key=_natural_key)


def load_run(path: Path) -> Run:
    config, results = read_config(path), read_results(path, strict=True)
    return Run(path=path, config=flatten(config), results=results, metrics=read_metrics(RunPaths(path).metrics))


def read_metrics(path: Path) -> list[dict[str, float]]:
    """The rows of a metrics.csv, each with the columns it has a value in; a last row that a
    kill cut short is left out."""
    if not path.is_file():
        return []
    text = path.read_text()
    lines = text.splitlines()
    if text and not text.endswith("\n"):
        lines = lines[:-1]
    return [{k: float(v) for k, v in row.items() if k and v not in (None, "")} for row in csv.DictReader(lines)]


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in RUN_FILES)


def _natural_key(path: Path) -> list[Any]:
    """So that version_10 comes after version_9."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


# -- the table ----------------------------------------------------------------------------------
