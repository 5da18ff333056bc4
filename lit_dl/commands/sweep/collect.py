"""What a sweep found, read from its study: each trial's outcome (trials.json), the best trials with
their values and Optuna's parameter importances (sweep.json, and printed)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from lit_dl.commands.sweep import study as records
from lit_dl.commands.sweep.worker import describe

BEST_SHOWN = 5


def trial_rows(study: Any, record: Path) -> list[dict[str, Any]]:
    """One row per trial (its newest attempt): status, values, score, runs, epochs, error."""
    from collections import Counter

    from lit_dl.run.results import read_results

    tries = Counter(trial.user_attrs.get("slot") for trial in study.get_trials(deepcopy=False))
    rows = []
    for attempt in records.latest_attempts(study):
        runs = list((attempt.user_attrs.get("runs") or {}).values())
        epochs = [read_results(Path(run)).get("epochs") for run in runs]
        log = record / f"trial_{attempt.number}.log"
        rows.append({
            "index": attempt.user_attrs["slot"], "number": attempt.number, "status": records.status(attempt),
            "params": attempt.user_attrs.get("values"), "value": attempt.value if attempt.state.name == "COMPLETE" else None,
            "run_dir": runs[0] if runs else None, "run_dirs": runs,
            "epochs": sum(e for e in epochs if isinstance(e, int)) if runs else None,
            "log": str(log) if log.is_file() else None, "error": attempt.user_attrs.get("error"),
            "attempts": tries[attempt.user_attrs["slot"]],
        })
    return rows


def summary(study: Any, settings: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """sweep.json: the settings, the trials' counts, the epochs trained, the best trials, importances."""
    goal = settings["metric"]["goal"]
    finished = sorted((row for row in rows if row["value"] is not None), key=lambda row: row["value"], reverse=goal == "maximize")
    counts = {status: sum(row["status"] == status for row in rows) for status in ("completed", "pruned", "failed", "running", "pending")}
    keep = ("name", "method", "metric", "slots", "seeds", "pruner", "parameters", "slurm", "job", "workers", "wandb_file")
    return {
        **{key: settings.get(key) for key in keep},
        "trials": counts,
        "epochs_trained": sum(row["epochs"] or 0 for row in rows),
        "best": [{"trial": row["index"] + 1, "value": row["value"], "params": row["params"], "run_dirs": row["run_dirs"]} for row in finished[:BEST_SHOWN]],
        "importances": importances(study),
    }


def importances(study: Any) -> dict[str, float] | None:
    """Optuna's parameter importances (PED-ANOVA); None before two trials with different values finished."""
    import optuna

    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(finished) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            found = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError, ZeroDivisionError):
            return None
    return {key: round(float(value), 4) for key, value in found.items() if math.isfinite(value)} or None


def print_summary(found: dict[str, Any], settings: dict[str, Any]) -> None:
    metric = settings["metric"]
    counts = ", ".join(f"{n} {status}" for status, n in found["trials"].items() if n)
    print(f"\n{settings['name']}: {counts}; {found['epochs_trained']} epochs trained")
    if found["best"]:
        print(f"best trials ({metric['name']}, {metric['goal']}d{', mean over seeds' if settings['seeds'] else ''}):")
        for best in found["best"]:
            shown = describe(best["params"] or {}, settings) or "-"
            print(f"  trial {best['trial']:>3}  {best['value']:.4g}  {shown}")
    if found["importances"]:
        names = settings["short_names"]
        print("parameter importances: " + ", ".join(f"{names.get(key, key)} {value:.2f}" for key, value in found["importances"].items()))
