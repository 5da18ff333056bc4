"""One trial: its values from the study, its `lit-dl fit` runs (one per seed), its outcome told to
the study. Each fit is a process of its own, so a trial that fails stops no other.

A trial's first fit reports the sweep's metric to the study after each validation
(`lit_dl.training.pruning.SweepPruning`, named in `LIT_DL_SWEEP_TRIAL`), and the study's pruner may
stop it: the trial is then `pruned`. With seeds, the first seed decides on pruning; a trial that
survives runs every seed and its value is the mean of their best metrics.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lit_dl.commands.sweep import space

PRUNING_CALLBACK = "lit_dl.training.pruning.SweepPruning"
TRIAL_ENV = "LIT_DL_SWEEP_TRIAL"  # read by the callback (lit_dl.training.pruning)
STOP_WAIT_S = 300  # a fit stopping on a signal saves last.ckpt first
# A fit stopped by SIGINT, SIGUSR1 (SLURM's time-limit warning: it requeues its job) or SIGTERM.
STOP_CODES = (128 + signal.SIGINT, 128 + signal.SIGUSR1, 128 + signal.SIGTERM)


@dataclass
class Fit:
    returncode: int
    run_dir: str | None
    status: str  # the run's status (completed, pruned, interrupted, failed, diverged) or failed
    error: str | None
    stopped: bool = False  # the worker itself was told to stop while the fit ran


class WorkerStopped(Exception):
    """SIGTERM to a worker: its fit is stopped (and saved), its trial queued again."""


def base_command(configs: list[Path], root: str, name: str, metric: str, fit_args: list[str]) -> list[str]:
    """`lit-dl fit` of the experiment with the pruning callback; each trial adds its values."""
    command = [sys.executable, "-m", "lit_dl.cli", "fit"]
    for config in configs:
        command += ["--config", str(Path(config).resolve())]
    callback = {"class_path": PRUNING_CALLBACK, "init_args": {"monitor": metric}}
    return [*command, "--trainer.default_root_dir", root, "--name", name, f"--trainer.callbacks+={json.dumps(callback)}", *fit_args]


def suggest(trial: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The trial's value of every parameter (queued values, else the sampler's)."""
    values = dict(settings["fixed"])
    for key, spec in settings["searched"].items():
        values[key] = space.decode(spec, _suggest(trial, key, space.distribution(spec)))
    return values


def _suggest(trial: Any, key: str, distribution: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(key, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(key, distribution.low, distribution.high)
    return trial.suggest_float(key, distribution.low, distribution.high, step=distribution.step, log=distribution.log)


def fit_command(settings: dict[str, Any], values: dict[str, Any], seed: int | None, resume: str | None) -> list[str]:
    command = [*settings["command"], *(space.flag(key, value) for key, value in values.items())]
    if seed is not None:
        command.append(space.flag(space.SEED_KEY, seed))
    if resume:
        from lit_dl.run.layout import latest_checkpoint

        checkpoint = latest_checkpoint(Path(resume))
        if checkpoint is not None:
            command += ["--ckpt_path", str(checkpoint)]
    return command


def fit_env(record: Path, settings: dict[str, Any], number: int, report: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_RUN_ID", "SLURM_RESTART_COUNT")}
    env.setdefault("WANDB_RUN_GROUP", f"{settings['name']}-{record.name}")  # a sweep's runs: one W&B group
    if report:
        journal = str((record / "study.journal").resolve())
        env[TRIAL_ENV] = json.dumps({"journal": journal, "study": settings["name"], "trial": number, "pruner": settings["pruner"]})
    else:
        env.pop(TRIAL_ENV, None)
    return env


def run_fit(command: list[str], log: Path, env: dict[str, str], run_dir: Callable[[], str | None] = lambda: None) -> Fit:
    """Run one `lit-dl fit` to its end, its output appended to `log`; how it ended. `run_dir`
    tells where the fit ran when its output does not (it was stopped)."""
    with open(log, "a") as output:
        output.write(f"$ {shlex.join(command)}\n")
        output.flush()
        start = output.tell()
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env,
                                 preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        stopped = False
        try:
            returncode = child.wait()
        except (KeyboardInterrupt, WorkerStopped) as stop:
            stopped = True
            returncode = _stop(child, signal.SIGTERM if isinstance(stop, WorkerStopped) else signal.SIGINT)
    with open(log, errors="replace") as output:
        output.seek(start)
        lines = [line.strip() for line in output.read().splitlines() if line.strip()]
    return _outcome(returncode, lines, stopped, run_dir)


def _stop(child: subprocess.Popen, signum: int) -> int:
    """Stop a fit the way a user would (it saves last.ckpt), and wait for it."""
    try:
        return child.wait(timeout=5)  # a Ctrl-C on the terminal reached it already
    except subprocess.TimeoutExpired:
        child.send_signal(signum)
    try:
        return child.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


def _outcome(returncode: int, lines: list[str], stopped: bool, known_run_dir: Callable[[], str | None]) -> Fit:
    from lit_dl.run.layout import RunPaths
    from lit_dl.run.results import read_results

    # `lit-dl fit` prints the run directory last; a warning at exit may still follow it.
    run_dir = next((line for line in reversed(lines) if RunPaths(Path(line)).config.is_file()), None)
    run_dir = run_dir or (known_run_dir() if returncode != 0 else None)
    recorded = read_results(Path(run_dir)).get("status") if run_dir else None
    if returncode == 0 and run_dir:
        status = recorded if recorded in ("completed", "pruned") else "completed"
    elif returncode in STOP_CODES or (stopped and returncode < 0):
        status = "interrupted"
    else:
        status = recorded if recorded == "diverged" else "failed"
    error = None
    if status not in ("completed", "pruned"):
        errors = [line for line in lines if line.startswith("lit-dl: error:")]
        error = (errors or lines or [f"exit code {returncode}"])[-1].removeprefix("lit-dl: error: ")
    return Fit(returncode, run_dir, status, error, stopped)


def _die_with_parent() -> None:
    """In the fit's process: SIGTERM it when its worker dies (a kill -9 of the sweep), so that it
    stops, saves last.ckpt, and the retried trial continues it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def best_value(run_dir: str, metric: str, goal: str) -> float | None:
    from lit_dl.run.reader import load_run

    return load_run(Path(run_dir)).best(metric, goal == "maximize")


def wait_until_stopped(fit_pid: str | None, timeout: float = STOP_WAIT_S) -> None:
    """Until the fit `host:pid` has ended, when it ran on this host (a dead worker's fit still
    saving last.ckpt: its retry must not continue the run before that)."""
    import socket

    host, _, pid = (fit_pid or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except OSError:
            return
        time.sleep(0.5)
