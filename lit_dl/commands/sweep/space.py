"""The search space: a sweep file in W&B's sweep format, read and checked before any trial runs.

    config: ../quickstart.yaml            # the experiment each trial starts from (relative to this file)
    method: bayes                         # grid | random | bayes (Optuna's TPE)
    count: 12                             # random and bayes: how many trials
    metric: {name: val/acc, goal: maximize}
    early_terminate: {type: hyperband, min_iter: 2, eta: 3}   # optional; or type: median
    parameters:                           # dotted config keys, as on the command line
      model.init_args.optimizer.init_args.lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-1}
      model.init_args.net.init_args.dropout: {values: [0.0, 0.1, 0.3]}
      trainer.max_epochs: {value: 10}

A list is shorthand for `values`, a scalar for `value`. Each distribution is an Optuna one:
uniform, q_uniform (with q), int_uniform, log_uniform (min and max are exponents of e),
log_uniform_values and q_log_uniform_values. A grid takes `values`, and enumerates int_uniform
and q_uniform.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lit_dl.errors import UserError

METHODS = ("grid", "random", "bayes")
DISTRIBUTIONS = ("uniform", "q_uniform", "int_uniform", "log_uniform", "log_uniform_values", "q_log_uniform_values")
GRID_DISTRIBUTIONS = ("int_uniform", "q_uniform")  # finite: a grid enumerates them
SWEEP_KEYS = {"config", "method", "count", "metric", "parameters", "name", "description", "early_terminate"}
# Keys of a W&B sweep file that mean nothing to a local search; kept for the W&B file.
WANDB_ONLY_KEYS = {"project", "entity", "run_cap", "program", "command"}
DEFAULT_METRIC = {"name": "val/loss", "goal": "minimize"}
SEED_KEY = "seed_everything"
PRIMITIVE = (type(None), bool, int, float, str)


@dataclass
class Sweep:
    name: str
    method: str
    configs: list[Path]
    parameters: dict[str, dict[str, Any]]  # each {"values": [...]}, {"value": x} or a distribution
    metric: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_METRIC))
    count: int | None = None
    early_terminate: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # W&B-only keys, passed through

    @property
    def searched(self) -> dict[str, dict[str, Any]]:
        """The parameters that take more than one value."""
        return {key: spec for key, spec in self.parameters.items() if "value" not in spec}

    @property
    def fixed(self) -> dict[str, Any]:
        return {key: spec["value"] for key, spec in self.parameters.items() if "value" in spec}


# -- reading ------------------------------------------------------------------------------------
def load_sweep(path: Path, *, configs: list[str] | None = None, method: str | None = None,
               count: int | None = None, name: str | None = None) -> Sweep:
    """Read and check a sweep file; the arguments given override its keys."""
    spec = _read(path)
    config_paths = _configs(path, spec, configs)
    method = method or spec.get("method", "grid")
    if method not in METHODS:
        raise UserError(f"{path}: method '{method}' is not run locally; use one of {', '.join(METHODS)}")
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict) or not parameters:
        raise UserError(f"{path} has no 'parameters'; add e.g. 'model.init_args.optimizer.init_args.lr: {{values: [0.001, 0.01]}}'")
    parameters = {str(key).removeprefix("--"): _parameter(str(key), value, method, path) for key, value in parameters.items()}
    count = count or spec.get("count") or spec.get("run_cap")
    if method != "grid" and not count:
        raise UserError(f"{path}: a {method} search needs a trial count; add 'count: 10' or pass --count 10")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise UserError(f"{path}: count {count!r} must be a whole number of trials, 1 or more")
    metric = {**DEFAULT_METRIC, **(spec.get("metric") or {})}
    if metric["goal"] not in ("minimize", "maximize"):
        raise UserError(f"{path}: metric goal '{metric['goal']}' must be minimize or maximize")
    return Sweep(
        name=name or spec.get("name") or path.stem,
        method=method,
        configs=config_paths,
        parameters=parameters,
        metric=metric,
        count=int(count) if count else None,
        early_terminate=spec.get("early_terminate"),
        extra={key: spec[key] for key in ("project", "entity", "description") if key in spec},
    )


def _read(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise UserError(f"sweep file not found: {path}; pass a YAML file such as experiments/sweeps/quickstart.yaml")
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise UserError(f"cannot read {path}: {' '.join(str(error).split())}") from error
    if not isinstance(spec, dict):
        raise UserError(f"{path} must be a mapping with 'config' and 'parameters'")
    unknown = set(spec) - SWEEP_KEYS - WANDB_ONLY_KEYS
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; a sweep file has {', '.join(sorted(SWEEP_KEYS))}")
    return spec


def _configs(path: Path, spec: dict[str, Any], given: list[str] | None) -> list[Path]:
    if given:
        config_paths = [Path(c) for c in given]
    else:
        listed = spec.get("config")
        if not listed:
            raise UserError(f"{path} names no experiment; add 'config: ../quickstart.yaml' or pass --config FILE")
        config_paths = [Path(os.path.normpath(path.parent / c)) for c in (listed if isinstance(listed, list) else [listed])]
    for config in config_paths:
        if not config.is_file():
            raise UserError(f"experiment file not found: {config}; 'config' in a sweep file is relative to the sweep file")
    return config_paths


def _parameter(key: str, value: Any, method: str, path: Path) -> dict[str, Any]:
    """One parameter in W&B's form; a plain list is shorthand for `values`, a scalar for `value`."""
    where = f"{path}: parameter '{key}'"
    if isinstance(value, list):
        value = {"values": value}
    elif not isinstance(value, dict):
        value = {"value": value}
    if "values" in value:
        if not isinstance(value["values"], list) or not value["values"]:
            raise UserError(f"{where} has an empty choice; give 'values' at least one value")
        return {"values": value["values"]}
    if "value" in value:
        return {"value": value["value"]}
    distribution = value.get("distribution")
    if distribution not in DISTRIBUTIONS or "min" not in value or "max" not in value:
        raise UserError(f"{where} needs 'values: [...]', 'value: x', or 'distribution: {' | '.join(DISTRIBUTIONS)}' with 'min' and 'max'")
    low, high = value["min"], value["max"]
    if not all(isinstance(bound, (int, float)) and not isinstance(bound, bool) for bound in (low, high)):
        raise UserError(f"{where}: min and max must be numbers, not {low!r} and {high!r}")
    if low > high:
        raise UserError(f"{where}: min {low} > max {high}; swap them")
    if distribution in ("log_uniform_values", "q_log_uniform_values") and low <= 0:
        raise UserError(f"{where}: {distribution} needs min > 0 (a log scale), not {low}; use a small positive min such as 1.0e-6")
    if distribution == "int_uniform" and not (float(low).is_integer() and float(high).is_integer()):
        raise UserError(f"{where}: int_uniform needs whole-number min and max, not {low} and {high}")
    spec = {"distribution": distribution, "min": low, "max": high}
    if distribution.startswith("q_"):
        q = value.get("q", 1)
        if not isinstance(q, (int, float)) or q <= 0:
            raise UserError(f"{where}: {distribution} needs q > 0 (the step), not {q!r}")
        spec["q"] = q
    if method == "grid" and distribution not in GRID_DISTRIBUTIONS:
        raise UserError(f"{where} has a {distribution} distribution, which a grid cannot enumerate; use 'values' or method: random or bayes")
    return spec


# -- values -------------------------------------------------------------------------------------
def grid_values(spec: dict[str, Any]) -> list[Any]:
    """Every value a grid takes for one parameter."""
    if "value" in spec:
        return [spec["value"]]
    if "values" in spec:
        return list(spec["values"])
    low, high = spec["min"], spec["max"]
    if spec["distribution"] == "int_uniform":
        return list(range(int(low), int(high) + 1))
    q = spec["q"]
    return [_rounded(low + i * q) for i in range(int(math.floor((high - low) / q + 1e-9)) + 1)]


def grid_points(sweep: Sweep) -> list[dict[str, Any]]:
    """The searched values of every grid trial, in file order (the last parameter varies fastest)."""
    import itertools

    keys = list(sweep.searched)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid_values(sweep.parameters[k]) for k in keys))]


def distribution(spec: dict[str, Any]) -> Any:
    """The Optuna distribution of a searched parameter."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if "values" in spec:
        return CategoricalDistribution([encode(value) for value in spec["values"]])
    kind, low, high = spec["distribution"], spec["min"], spec["max"]
    if kind == "int_uniform":
        return IntDistribution(int(low), int(high))
    if kind == "uniform":
        return FloatDistribution(float(low), float(high))
    if kind == "q_uniform":
        q = spec["q"]
        return FloatDistribution(float(low), float(low + math.floor((high - low) / q + 1e-9) * q), step=float(q))
    if kind == "log_uniform":
        return FloatDistribution(math.exp(low), math.exp(high), log=True)
    return FloatDistribution(float(low), float(high), log=True)  # log_uniform_values, q_log_uniform_values


def encode(value: Any) -> Any:
    """A choice as Optuna stores it: itself when it is a plain scalar, else its JSON text."""
    return value if isinstance(value, PRIMITIVE) else json.dumps(value)


def decode(spec: dict[str, Any], stored: Any) -> Any:
    """The value a trial's flag gets from what Optuna stored for it."""
    if "values" in spec:
        for value in spec["values"]:
            if encode(value) == stored:
                return value
        return stored
    if spec.get("distribution") == "q_log_uniform_values":
        return _rounded(round(stored / spec["q"]) * spec["q"])
    if spec.get("distribution") == "int_uniform":
        return int(stored)
    return stored


def _rounded(value: float) -> float | int:
    rounded = float(f"{value:.10g}")
    return int(rounded) if rounded.is_integer() and isinstance(value, int) else rounded


def flag(key: str, value: Any) -> str:
    """`--key=value` as jsonargparse reads it (YAML): the `=` keeps a negative number a value."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif value is None:
        text = "null"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value)
    else:
        text = str(value)
    return f"--{key}={text}"


def describe(spec: dict[str, Any]) -> str:
    """`log_uniform_values(0.0001, 0.1)`, `{0.1, 0.3}` or `5`: a parameter in a line."""
    if "value" in spec:
        return str(spec["value"])
    if "values" in spec:
        return "{" + ", ".join(map(str, spec["values"])) + "}"
    q = f", q={spec['q']}" if "q" in spec else ""
    return f"{spec['distribution']}({spec['min']}, {spec['max']}{q})"
