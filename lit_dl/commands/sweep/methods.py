"""The search methods and early termination, as Optuna samplers and pruners.

- `grid`: every point is put in the study's queue at the start (no sampler is asked);
- `random`: Optuna's RandomSampler;
- `bayes`: Optuna's TPESampler (the first third of the trials, at most 10, are random);
- `early_terminate: {type: hyperband, min_iter: M, max_iter: X, eta: E}`: Optuna's
  HyperbandPruner (min_resource M, max_resource X or, without max_iter, the epochs of the first
  finished trial, reduction factor E: default 3); `type: successive_halving` its
  SuccessiveHalvingPruner; `type: median` (lit-dl's own, not W&B's) its MedianPruner: a trial
  stops when its metric is worse than the median of the earlier trials at the same epoch, after
  `min_iter` epochs and once `startup` trials (default 3) have finished.

The resource a pruner counts is the epoch: a trial reports its metric after each validation.
"""

from __future__ import annotations

from typing import Any

from lit_dl.errors import UserError

PRUNERS = ("hyperband", "successive_halving", "median")
EARLY_TERMINATE_KEYS = {"type", "min_iter", "max_iter", "eta", "s", "strict", "startup"}


def pruner_spec(early_terminate: dict[str, Any] | None, where: str) -> tuple[str, dict[str, Any]] | None:
    """(Optuna pruner class name, its arguments) for a sweep file's `early_terminate`; None for none."""
    if not early_terminate:
        return None
    if not isinstance(early_terminate, dict):
        raise UserError(f"{where}: early_terminate must be a mapping such as {{type: hyperband, min_iter: 2}}")
    kind = early_terminate.get("type")
    unknown = set(early_terminate) - EARLY_TERMINATE_KEYS
    if kind not in PRUNERS or unknown:
        what = f"type '{kind}'" if kind not in PRUNERS else f"key(s) {', '.join(sorted(unknown))}"
        raise UserError(f"{where}: early_terminate {what} is not known; use type: {' | '.join(PRUNERS)} with min_iter, max_iter, eta")
    min_iter = _whole(early_terminate.get("min_iter", 1), "min_iter", 1, where)
    eta = _whole(early_terminate.get("eta", 3), "eta", 2, where)
    if kind == "median":
        startup = _whole(early_terminate.get("startup", 3), "startup", 0, where)
        return "MedianPruner", {"n_startup_trials": startup, "n_warmup_steps": min_iter}  # no stop before step min_iter
    if kind == "successive_halving":
        return "SuccessiveHalvingPruner", {"min_resource": min_iter, "reduction_factor": eta}
    max_iter = early_terminate.get("max_iter")
    if max_iter is not None:
        max_iter = _whole(max_iter, "max_iter", min_iter + 1, where)
    return "HyperbandPruner", {"min_resource": min_iter, "max_resource": max_iter or "auto", "reduction_factor": eta}


def _whole(value: Any, key: str, least: int, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise UserError(f"{where}: early_terminate {key} must be a whole number >= {least}, not {value!r}")
    return value


def make_pruner(spec: tuple[str, dict[str, Any]] | list | None) -> Any:
    import optuna

    name, kwargs = spec or ("NopPruner", {})
    return getattr(optuna.pruners, name)(**kwargs)


def make_sampler(method: str, count: int, seed: int | None) -> Any:
    """The sampler a worker asks for new values (grid points are all queued: it is never asked)."""
    import optuna

    if method == "bayes":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, count // 3)))
    return optuna.samplers.RandomSampler(seed=seed)


def quiet() -> None:
    """Optuna's per-trial info lines repeat what the sweep prints."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
