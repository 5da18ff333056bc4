"""A sweep worker: takes the study's queued trials one at a time until none is left.

`lit-dl sweep` runs one in its own process, `--workers N` starts N of them
(`python -m lit_dl.commands.sweep SWEEP_DIR`), and `--slurm` makes each array task one.
A worker that is stopped (Ctrl-C, SIGTERM, a SLURM requeue) stops its fit the way a user would
(last.ckpt is saved), queues that trial again and takes no other.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from lit_dl.commands.sweep import study as records
from lit_dl.commands.sweep import trials
from lit_dl.commands.sweep.methods import make_pruner, make_sampler


def work(record: Path, seed_offset: int = 0, label: str = "", launcher: list[str] | None = None, fit_args: list[str] | None = None) -> None:
    """Run queued trials of the sweep in `record` until none is left (or this worker is stopped)."""
    _, settings = records.load(record)
    seed = settings["seed"] + seed_offset if settings["seed"] is not None else None
    study, _ = records.load(record, make_sampler(settings["method"], settings["slots"], seed), make_pruner(settings["pruner"]))
    lock = records.WorkerLock(record)
    previous = signal.signal(signal.SIGTERM, _stop_worker)
    try:
        records.requeue_orphans(study, record, lock.id)
        while (trial := records.take(study, record, lock.id)) is not None:
            if not run_trial(study, trial, record, settings, label, [*(launcher or []), *settings["command"], *(fit_args or [])]):
                break  # its fit was stopped by a signal: so is this worker (or its SLURM job is requeued)
    finally:
        signal.signal(signal.SIGTERM, previous)
        lock.release()


def _stop_worker(signum: int, frame: Any) -> None:
    raise trials.WorkerStopped()


def run_trial(study: Any, trial: Any, record: Path, settings: dict[str, Any], label: str, command: list[str]) -> bool:
    """All fits of one trial, its outcome told to the study; False when a signal stopped it."""
    import optuna

    values = trials.suggest(trial, settings)
    trial.set_user_attr("values", values)
    slot, started = trial.user_attrs["slot"], time.monotonic()
    print(f"{label}trial {slot + 1}/{settings['slots']}  {describe(values, settings)}", flush=True)
    log = record / f"trial_{trial.number}.log"
    runs: dict[str, str] = dict(trial.user_attrs.get("runs") or {})
    resume = trial.user_attrs.get("resume")
    trials.wait_until_stopped(trial.user_attrs.get("fit_pid") if resume else None)
    for index, seed in enumerate(settings["seeds"] or [None]):
        if str(seed) in runs:
            continue
        fit_settings = {**settings, "command": command}
        env = trials.fit_env(record, settings, trial.number, report=index == 0)
        earlier = set(runs.values())
        reported = lambda: (trial.user_attrs.get("run_dir") if trial.user_attrs.get("run_dir") not in earlier else None)  # noqa: E731
        fit = trials.run_fit(trials.fit_command(fit_settings, values, seed, resume), log, env, reported)
        resume = None
        if fit.run_dir:
            runs[str(seed)] = fit.run_dir
            trial.set_user_attr("runs", runs)
        if fit.status == "completed":
            continue
        seconds = round(time.monotonic() - started, 1)
        if fit.status == "pruned":
            study.tell(trial.number, state=optuna.trial.TrialState.PRUNED)
            print(f"{label}  pruned in {seconds}s: {fit.run_dir}", flush=True)
            return True
        runs.pop(str(seed), None)
        trial.set_user_attr("runs", runs)
        return _unfinished(study, trial, fit, label, log)
    return _completed(study, trial, runs, settings, label, round(time.monotonic() - started, 1))


def _completed(study: Any, trial: Any, runs: dict[str, str], settings: dict[str, Any], label: str, seconds: float) -> bool:
    import optuna

    metric = settings["metric"]
    scores = [trials.best_value(run_dir, metric["name"], metric["goal"]) for run_dir in runs.values()]
    if any(score is None for score in scores):
        trial.set_user_attr("error", f"the sweep's metric {metric['name']} was not logged; set metric.name to a logged metric")
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        print(f"{label}  FAILED: {metric['name']} was not logged", flush=True)
        return True
    study.tell(trial.number, sum(scores) / len(scores))
    print(f"{label}  ok in {seconds}s: {', '.join(runs.values())}", flush=True)
    return True


def _unfinished(study: Any, trial: Any, fit: trials.Fit, label: str, log: Path) -> bool:
    """A fit that failed (the trial fails) or was stopped by a signal (the trial is queued again)."""
    if fit.status == "interrupted":
        records.fail_and_retry(study, trial, "stopped by a signal; queued again to continue its run")
        print(f"{label}  stopped: queued again, to continue {fit.run_dir or 'from the start'}", flush=True)
        if fit.stopped:
            raise KeyboardInterrupt
        return False
    records.fail_and_retry(study, trial, fit.error or "failed", retry=False)
    print(f"{label}  FAILED (exit {fit.returncode}): {fit.error}  (log: {log})", flush=True)
    return True


def describe(values: dict[str, Any], settings: dict[str, Any]) -> str:
    """`lr=0.01 dropout=0.1`: a trial by its searched values, under short names."""
    names = settings["short_names"]
    return " ".join(f"{names[key]}={value:.4g}" if isinstance(value, float) else f"{names[key]}={value}"
                    for key, value in values.items() if key in names)
