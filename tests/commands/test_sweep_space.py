"""The search space's values without a study: grid values, Optuna distributions, stored choices
read back, and the sweep file's defaults and overrides (tests/commands/test_sweep.py reads whole files)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tests.helpers.paths import QUICKSTART

from lit_dl.commands.sweep import space
from lit_dl.errors import UserError
from tests.helpers.typed import typed, typed_tree


# The specs as a sweep file gives them: strings read from YAML, not a test's interned literals.
def distribution(spec):
    return space.distribution(typed_tree(spec))


def grid_values(spec):
    return space.grid_values(typed_tree(spec))


def decode(spec, stored):
    return space.decode(typed_tree(spec), typed_tree(stored))


def describe(spec):
    return space.describe(typed_tree(spec))


def sweep_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"config: {QUICKSTART}\n" + text)
    return path


@pytest.mark.parametrize(("spec", "values"), [
    ({"value": 3}, [3]), ({"values": [0.1, "a"]}, [0.1, "a"]), ({"distribution": "int_uniform", "min": 2, "max": 5}, [2, 3, 4, 5]),
    ({"distribution": "int_uniform", "min": 4, "max": 4}, [4]),
    ({"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25}, [0.0, 0.25, 0.5, 0.75, 1.0]),
    ({"distribution": "q_uniform", "min": 0.1, "max": 0.35, "q": 0.1}, [0.1, 0.2, 0.3]),
    ({"distribution": "q_uniform", "min": 0, "max": 6, "q": 3}, [0, 3, 6]),
])
def test_the_values_a_grid_takes(spec, values):
    found = grid_values(spec)
    assert found == values and [type(v) for v in found] == [type(v) for v in values]


def test_the_optuna_distribution_of_each_kind():
    assert distribution({"values": [[1, 2], "a", None]}).choices == ("[1, 2]", "a", None)
    integer = distribution({"distribution": "int_uniform", "min": 2.0, "max": 9.0})
    assert (integer.low, integer.high, type(integer.low)) == (2, 9, int)
    uniform = distribution({"distribution": "uniform", "min": 0, "max": 1})
    assert (uniform.low, uniform.high, uniform.log, uniform.step) == (0.0, 1.0, False, None)
    stepped = distribution({"distribution": "q_uniform", "min": 0.0, "max": 1.1, "q": 0.25})
    assert (stepped.low, stepped.high, stepped.step) == (0.0, 1.0, 0.25)  # the last step inside the range
    exponent = distribution({"distribution": "log_uniform", "min": -2, "max": 0})
    assert (exponent.low, exponent.high, exponent.log) == (pytest.approx(math.exp(-2)), 1.0, True)
    values = distribution({"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1})
    assert (values.low, values.high, values.log) == (1e-4, 1e-1, True)
    q_values = distribution({"distribution": "q_log_uniform_values", "min": 1, "max": 64, "q": 1})
    assert (q_values.low, q_values.high, q_values.log) == (1.0, 64.0, True)


def test_a_stored_value_is_read_back_as_the_flag_takes_it():
    assert decode({"values": [[64, 32], 0.5]}, "[64, 32]") == [64, 32]
    assert decode({"values": [[64, 32], 0.5]}, "unknown") == "unknown"
    assert decode({"distribution": "int_uniform", "min": 1, "max": 9}, 4.0) == 4 and isinstance(decode({"distribution": "int_uniform"}, 4.0), int)
    assert decode({"distribution": "q_log_uniform_values", "q": 8}, 37.0) == 40.0
    assert decode({"distribution": "q_log_uniform_values", "q": 0.01}, 0.123456) == 0.12
    assert decode({"distribution": "uniform"}, 0.123456) == 0.123456
    assert space._rounded(0.1 + 0.2) == 0.3 and space._rounded(3) == 3 and isinstance(space._rounded(3), int)
    assert isinstance(space._rounded(3.0), float)


def test_a_parameter_in_a_line():
    assert describe({"value": 5}) == "5"
    assert describe({"values": [0.1, 0.3]}) == "{0.1, 0.3}"
    assert describe({"distribution": "uniform", "min": 0, "max": 1}) == "uniform(0, 1)"
    assert describe({"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.5}) == "q_uniform(0, 1, q=0.5)"


def test_searched_and_fixed_parameters():
    sweep = space.Sweep("s", typed("grid"), [], {"a": {"value": 1}, "b": {"values": [1, 2]}, "c": {"distribution": "int_uniform", "min": 0, "max": 1}})
    assert sweep.fixed == {"a": 1} and list(sweep.searched) == ["b", "c"]
    assert space.grid_points(sweep) == [{"b": 1, "c": 0}, {"b": 1, "c": 1}, {"b": 2, "c": 0}, {"b": 2, "c": 1}]
    assert sweep.metric == {"name": "val/loss", "goal": "minimize"} and sweep.metric is not space.DEFAULT_METRIC


def test_a_sweep_files_defaults_and_the_flags_that_override_them(tmp_path):
    path = sweep_file(tmp_path, "parameters:\n  lr: [0.1, 0.2]\n  --depth: 3\n")
    sweep = space.load_sweep(path)
    assert (sweep.name, sweep.method, sweep.count, sweep.metric, sweep.early_terminate) == ("s", "grid", None, space.DEFAULT_METRIC, None)
    assert sweep.parameters == {"lr": {"values": [0.1, 0.2]}, "depth": {"value": 3}} and sweep.configs == [QUICKSTART]
    written = space.load_sweep(sweep_file(tmp_path, "method: grid\nparameters:\n  lr: [0.1, 0.2]\n"))  # a grid needs no count
    assert (written.method, written.count) == ("grid", None)
    overridden = space.load_sweep(path, method=typed("random"), count=4, name="other", configs=[str(QUICKSTART)])  # as the flags give them
    assert (overridden.name, overridden.method, overridden.count) == ("other", "random", 4)
    single = space.load_sweep(sweep_file(tmp_path, "method: random\ncount: 1\nparameters:\n  lr: [1, 2]\n"))
    assert single.count == 1  # one trial is a search too
    capped = space.load_sweep(sweep_file(tmp_path, "method: bayes\nrun_cap: 6\nproject: p\nentity: e\nmetric: {name: val/acc, goal: maximize}\n"
                                                   "name: named\nparameters:\n  lr: [1, 2]\n"))
    assert (capped.count, capped.name, capped.extra, capped.metric) == (6, "named", {"project": "p", "entity": "e"},
                                                                        {"name": "val/acc", "goal": "maximize"})


@pytest.mark.parametrize(("text", "message"), [
    ("method: random\ncount: 0\nparameters:\n  lr: [1]\n", "a random search needs a trial count; add 'count: 10' or pass --count 10"),
    ("method: random\ncount: 2.5\nparameters:\n  lr: [1]\n", "count 2.5 must be a whole number of trials, 1 or more"),
    ("count: -1\nparameters:\n  lr: [1]\n", "count -1 must be a whole number of trials, 1 or more"),
    ("metric: {goal: max}\nparameters:\n  lr: [1]\n", "metric goal 'max' must be minimize or maximize"),
    ("parameters:\n  lr: {distribution: uniform, min: a, max: 1}\n", "parameter 'lr': min and max must be numbers, not 'a' and 1"),
    ("parameters:\n  lr: {distribution: int_uniform, min: true, max: 1}\n", "parameter 'lr': min and max must be numbers, not True and 1"),
    ("parameters:\n  lr: {distribution: int_uniform, min: 0.5, max: 3}\n", "parameter 'lr': int_uniform needs whole-number min and max, not 0.5 and 3"),
    ("parameters:\n  lr: {distribution: q_log_uniform_values, min: -1, max: 3, q: 1}\n", "q_log_uniform_values needs min > 0 (a log scale), not -1"),
    ("parameters:\n  lr: {distribution: uniform, max: 3}\n", "parameter 'lr' needs 'values: [...]', 'value: x', or 'distribution: uniform | "
                                                              "q_uniform | int_uniform | log_uniform | log_uniform_values | q_log_uniform_values' with 'min' and 'max'"),
    ("parameters:\n  lr: {values: 3}\n", "parameter 'lr' has an empty choice; give 'values' at least one value"),
    ("parameters: [1, 2]\n", "has no 'parameters'"),
    ("method: grid\nparameters:\n  lr: {distribution: uniform, min: 0, max: 1}\n", "has a uniform distribution, which a grid cannot enumerate"),
])
def test_each_mistake_in_a_sweep_file_says_what_to_change(tmp_path, text, message):
    with pytest.raises(UserError) as raised:
        space.load_sweep(sweep_file(tmp_path, text))
    assert message in str(raised.value)


def test_a_sweep_file_that_is_not_there_not_yaml_or_not_a_mapping(tmp_path):
    with pytest.raises(UserError, match="sweep file not found: .*nowhere.yaml; pass a YAML file"):
        space.load_sweep(tmp_path / "nowhere.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(UserError, match=r"^cannot read .*bad.yaml: while parsing"):
        space.load_sweep(bad)
    bad.write_text("- 1\n")
    with pytest.raises(UserError, match="must be a mapping with 'config' and 'parameters'"):
        space.load_sweep(bad)
    bad.write_text("parameters: {lr: [1]}\n")
    with pytest.raises(UserError, match="names no experiment; add 'config: ../quickstart.yaml' or pass --config FILE"):
        space.load_sweep(bad)
    bad.write_text("config: [../nowhere.yaml]\nparameters: {lr: [1]}\n")
    with pytest.raises(UserError, match=r"experiment file not found: .*nowhere.yaml; 'config' in a sweep file is relative to the sweep file"):
        space.load_sweep(bad)
