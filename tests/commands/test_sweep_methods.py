"""A sweep file's `early_terminate`, as the Optuna pruner it names."""

from __future__ import annotations

import pytest

from lit_dl.commands.sweep.methods import pruner_spec
from lit_dl.errors import UserError


@pytest.mark.parametrize(("given", "spec"), [
    ({"type": "median"}, ("MedianPruner", {"n_startup_trials": 3, "n_warmup_steps": 1})),
    ({"type": "successive_halving", "min_iter": 2}, ("SuccessiveHalvingPruner", {"min_resource": 2, "reduction_factor": 3})),
    ({"type": "hyperband", "eta": 2}, ("HyperbandPruner", {"min_resource": 1, "max_resource": "auto", "reduction_factor": 2})),
    (None, None),
])
def test_each_early_terminate_type_is_its_pruner(given, spec):
    assert pruner_spec(given, "sweep.yaml") == spec


def test_hyperbands_max_iter_must_exceed_min_iter():
    assert pruner_spec({"type": "hyperband", "min_iter": 2, "max_iter": 3}, "s.yaml")[1]["max_resource"] == 3
    with pytest.raises(UserError, match="max_iter must be a whole number >= 3, not 2"):
        pruner_spec({"type": "hyperband", "min_iter": 2, "max_iter": 2}, "s.yaml")


def test_the_median_pruners_startup_may_be_zero_not_less():
    assert pruner_spec({"type": "median", "startup": 0}, "s.yaml")[1]["n_startup_trials"] == 0
    with pytest.raises(UserError, match="startup must be a whole number >= 0, not -1"):
        pruner_spec({"type": "median", "startup": -1}, "s.yaml")
