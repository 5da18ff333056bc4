"""A sweep file's `early_terminate`, as the Optuna pruner it names."""

from __future__ import annotations

import pytest

from lit_dl.commands.sweep import methods
from lit_dl.errors import UserError
from tests.helpers.typed import typed, typed_tree

make_pruner = methods.make_pruner


# As a sweep file and the command line give them: strings built at run time, not interned literals.
def pruner_spec(early_terminate, where):
    return methods.pruner_spec(typed_tree(early_terminate), where)


def make_sampler(method, count, seed):
    return methods.make_sampler(typed(method), count, seed=seed)


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


@pytest.mark.parametrize(("count", "startup"), [(1, 2), (6, 2), (9, 3), (10, 3), (11, 3), (29, 9), (30, 10), (100, 10)])
def test_bayes_samples_the_first_third_of_the_trials_at_random_at_least_two_at_most_ten(count, startup):
    import optuna

    sampler = make_sampler("bayes", count, seed=5)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == startup and isinstance(sampler._n_startup_trials, int)


def test_random_is_optunas_random_sampler_with_the_seed():
    import optuna

    first, again = make_sampler("random", 10, seed=3), make_sampler("random", 10, seed=3)
    assert isinstance(first, optuna.samplers.RandomSampler)
    assert first._rng.rng.random() == again._rng.rng.random()


def test_a_pruner_spec_is_built_and_no_spec_is_no_pruning():
    import optuna

    assert isinstance(make_pruner(None), optuna.pruners.NopPruner)
    pruner = make_pruner(pruner_spec({"type": "median", "min_iter": 2, "startup": 4}, "s.yaml"))
    assert isinstance(pruner, optuna.pruners.MedianPruner) and (pruner._n_startup_trials, pruner._n_warmup_steps) == (4, 2)


@pytest.mark.parametrize(("given", "said"), [
    ([1, 2], "sweep.yaml: early_terminate must be a mapping such as {type: hyperband, min_iter: 2}"),
    ({"type": "asha"}, "sweep.yaml: early_terminate type 'asha' is not known; use type: hyperband | successive_halving | median with "
                       "min_iter, max_iter, eta"),
    ({"type": "median", "min_iters": 2, "z": 1}, "sweep.yaml: early_terminate key(s) min_iters, z is not known; use type: hyperband | "
                                                 "successive_halving | median with min_iter, max_iter, eta"),
    ({"type": "hyperband", "min_iter": 0}, "sweep.yaml: early_terminate min_iter must be a whole number >= 1, not 0"),
    ({"type": "hyperband", "min_iter": True}, "sweep.yaml: early_terminate min_iter must be a whole number >= 1, not True"),
    ({"type": "hyperband", "min_iter": 2.0}, "sweep.yaml: early_terminate min_iter must be a whole number >= 1, not 2.0"),
    ({"type": "successive_halving", "eta": 1}, "sweep.yaml: early_terminate eta must be a whole number >= 2, not 1"),
])
def test_a_wrong_early_terminate_says_what_is_wrong(given, said):
    with pytest.raises(UserError) as raised:
        pruner_spec(given, "sweep.yaml")
    assert str(raised.value) == said


def test_the_defaults_of_early_terminate():
    assert pruner_spec({"type": "hyperband"}, "s.yaml") == ("HyperbandPruner", {"min_resource": 1, "max_resource": "auto", "reduction_factor": 3})
    assert pruner_spec({"type": "hyperband", "min_iter": 1, "max_iter": 2, "eta": 2}, "s.yaml")[1] == {
        "min_resource": 1, "max_resource": 2, "reduction_factor": 2}
    assert pruner_spec({"type": "median", "min_iter": 1, "startup": 1}, "s.yaml") == ("MedianPruner", {"n_startup_trials": 1, "n_warmup_steps": 1})
    assert pruner_spec({}, "s.yaml") is None
