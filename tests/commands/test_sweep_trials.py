"""One trial's pieces without a fit: its command, its environment, how its fit ended (from the exit
code, the output and the run's record), and the wait for a stopped fit of a dead worker."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lit_dl.commands.sweep import trials
from lit_dl.commands.sweep.trials import Fit
from tests.helpers.typed import typed

pytestmark = pytest.mark.broken_runs("hand-written run directories: a config and a results.json")


def run_dir(root: Path, status: str | None = None) -> Path:
    folder = root / "exp" / "version_0"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("trainer: {}\n")
    if status:
        (folder / "results.json").write_text(json.dumps({"status": status}))
    return folder


def test_the_base_command_fits_the_configs_with_the_pruning_callback(tmp_path):
    command = trials.base_command([tmp_path / "a.yaml", Path("b.yaml")], "/runs", "lr-search", "val/acc", ["--trainer.max_epochs=2"])
    callback = {"class_path": "lit_dl.training.pruning.SweepPruning", "init_args": {"monitor": "val/acc"}}
    assert command == [sys.executable, "-m", "lit_dl.cli", "fit", "--config", str(tmp_path / "a.yaml"), "--config",
                       str(Path("b.yaml").resolve()), "--trainer.default_root_dir", "/runs", "--name", "lr-search",
                       f"--trainer.callbacks+={json.dumps(callback)}", "--trainer.max_epochs=2"]


def test_a_trials_fit_command_adds_its_values_seed_and_the_checkpoint_to_resume(tmp_path):
    settings = {"command": ["lit-dl", "fit"]}
    values = {"model.lr": 0.01, "model.flag": True, "model.dims": [1, 2], "model.none": None}
    assert trials.fit_command(settings, values, None, None) == ["lit-dl", "fit", "--model.lr=0.01", "--model.flag=true",
                                                                "--model.dims=[1, 2]", "--model.none=null"]
    assert trials.fit_command(settings, {}, 7, None) == ["lit-dl", "fit", "--seed_everything=7"]
    folder = run_dir(tmp_path)
    assert trials.fit_command(settings, {}, None, str(folder)) == ["lit-dl", "fit"]  # nothing saved yet: starts over
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert trials.fit_command(settings, {}, None, str(folder))[-2:] == ["--ckpt_path", str(folder / "checkpoints" / "last.ckpt")]


def test_a_trials_environment_names_the_trial_for_the_pruning_callback_only_when_it_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_RUN_ID", "old")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    monkeypatch.setenv(trials.TRIAL_ENV, "stale")
    monkeypatch.delenv("WANDB_RUN_GROUP", raising=False)
    record = tmp_path / "sweep-1"
    settings = {"name": "lr", "pruner": ["MedianPruner", {}]}
    env = trials.fit_env(record, settings, 3, report=True)
    assert "WANDB_RUN_ID" not in env and "SLURM_RESTART_COUNT" not in env and env["WANDB_RUN_GROUP"] == "lr-sweep-1"
    assert json.loads(env[trials.TRIAL_ENV]) == {"journal": str((record / "study.journal").resolve()), "study": "lr", "trial": 3,
                                                 "pruner": ["MedianPruner", {}]}
    assert trials.TRIAL_ENV not in trials.fit_env(record, settings, 3, report=False)
    monkeypatch.setenv("WANDB_RUN_GROUP", "mine")
    assert trials.fit_env(record, settings, 3, report=False)["WANDB_RUN_GROUP"] == "mine"


@pytest.mark.parametrize(("returncode", "recorded", "stopped", "status"), [
    (0, None, False, "completed"), (0, "completed", False, "completed"), (0, "pruned", False, "pruned"),
    (0, "interrupted", False, "completed"), (130, "interrupted", False, "interrupted"), (138, None, False, "interrupted"),
    (143, None, False, "interrupted"), (-15, None, True, "interrupted"), (-15, None, False, "failed"), (1, "diverged", False, "diverged"),
    (1, "failed", False, "failed"), (2, None, False, "failed"), (137, None, False, "failed"),
])
def test_how_a_fit_ended(returncode, recorded, stopped, status, tmp_path):
    folder = run_dir(tmp_path, recorded)
    fit = trials._outcome(returncode, ["some output", str(folder)], stopped, lambda: None)
    assert (fit.status, fit.run_dir, fit.stopped, fit.returncode) == (status, str(folder), stopped, returncode)
    assert (fit.error is None) is (status in ("completed", "pruned"))


def test_a_failed_fits_error_is_its_last_lit_dl_error_line_else_its_last_line(tmp_path):
    lines = ["lit-dl: error: first", "lit-dl: error: bad lr", "Traceback", "exit"]
    assert trials._outcome(2, lines, False, lambda: None).error == "bad lr"
    assert trials._outcome(1, ["Traceback", "ValueError: x"], False, lambda: None).error == "ValueError: x"
    assert trials._outcome(1, [], False, lambda: None).error == "exit code 1"


def test_the_run_directory_is_the_last_printed_one_or_the_known_one_for_a_fit_that_did_not_say(tmp_path):
    folder = run_dir(tmp_path, "completed")
    assert trials._outcome(0, [str(folder), "a warning at exit"], False, lambda: "elsewhere").run_dir == str(folder)
    assert trials._outcome(0, ["no run printed"], False, lambda: str(folder)).run_dir is None  # a success that says no run: none
    stopped = trials._outcome(130, ["stopped"], True, lambda: str(folder))
    assert stopped.run_dir == str(folder) and stopped.status == "interrupted"
    assert trials._outcome(0, ["no run printed"], False, lambda: None).status == "failed"


@pytest.mark.parametrize(("recorded", "ended"), [("completed", True), ("pruned", True), ("interrupted", False), ("failed", False), (None, False)])
def test_a_resumed_trial_whose_run_ended_meanwhile_is_taken_as_it_ended(recorded, ended, tmp_path):
    folder = run_dir(tmp_path, recorded)
    assert trials.ended_meanwhile(str(folder)) == (Fit(0, str(folder), recorded, None) if ended else None)
    assert trials.ended_meanwhile(None) is None and trials.ended_meanwhile(str(tmp_path / "gone")) is None


def test_a_dead_workers_fit_on_this_host_is_waited_for_until_it_ends_and_no_other():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        start = time.monotonic()
        trials.wait_until_stopped(f"{socket.gethostname()}:{sleeper.pid}", timeout=1.0)
        assert time.monotonic() - start >= 0.9  # alive all along: waited the whole timeout
        for other in (f"another-host:{sleeper.pid}", f"{socket.gethostname()}:x{sleeper.pid}", None, ""):
            start = time.monotonic()
            trials.wait_until_stopped(other, timeout=5.0)
            assert time.monotonic() - start < 0.5, other
    finally:
        sleeper.kill()
        sleeper.wait()
    start = time.monotonic()
    trials.wait_until_stopped(f"{socket.gethostname()}:{sleeper.pid}", timeout=5.0)  # ended: no wait
    assert time.monotonic() - start < 0.5


def test_a_fit_that_ends_by_itself_is_judged_by_its_exit_and_its_output_appended_to_the_log(tmp_path):
    """A stand-in for `lit-dl fit` (a Python one-liner: a real fit is tests/commands/test_sweep.py's):
    a fit killed by something else than its worker (the OOM killer's SIGKILL) failed, it was not stopped."""
    folder, log = run_dir(tmp_path, "completed"), tmp_path / "trial.log"
    prints_its_run = [sys.executable, "-c", f"print('training'); print({str(folder)!r})"]
    assert trials.run_fit(prints_its_run, log, dict(os.environ)) == Fit(0, str(folder), "completed", None, stopped=False)
    killed = [sys.executable, "-c", "import os, signal; print('out of memory', flush=True); os.kill(os.getpid(), signal.SIGKILL)"]
    assert trials.run_fit(killed, log, dict(os.environ)) == Fit(-signal.SIGKILL, None, "failed", "out of memory", stopped=False)
    said = log.read_text().splitlines()
    assert said == [f"$ {shlex.join(prints_its_run)}", "training", str(folder), f"$ {shlex.join(killed)}", "out of memory"]


class StoppingFit:
    """A stand-in for a fit's Popen that ends after `ends_after` of the worker's moves (a wait, a signal, a kill)."""

    def __init__(self, ends_after: int) -> None:
        self.moves: list[str] = []
        self.ends_after = ends_after

    def wait(self, timeout=None):
        self.moves.append(f"wait {timeout}")
        if timeout is not None and len(self.moves) < self.ends_after:
            raise subprocess.TimeoutExpired("lit-dl fit", timeout)
        return -signal.SIGTERM

    def send_signal(self, signum):
        self.moves.append(signal.Signals(signum).name)

    def kill(self):
        self.moves.append("kill")


@pytest.mark.parametrize(("ends_after", "moves"), [
    (1, ["wait 5"]),  # the terminal's Ctrl-C reached it already
    (3, ["wait 5", "SIGTERM", f"wait {trials.STOP_WAIT_S}"]),
    (9, ["wait 5", "SIGTERM", f"wait {trials.STOP_WAIT_S}", "kill", "wait None"]),  # it did not stop: killed
])
def test_a_stopped_worker_gives_its_fit_time_to_save_then_signals_then_kills_it(ends_after, moves):
    fit = StoppingFit(ends_after)
    assert trials._stop(fit, signal.SIGTERM) == -signal.SIGTERM
    assert fit.moves == moves


@pytest.mark.parametrize(("stop", "signalled"), [(KeyboardInterrupt, "SIGINT"), (trials.WorkerStopped, "SIGTERM")])
def test_a_worker_stopped_while_its_fit_runs_passes_the_stop_on_and_marks_the_fit_stopped(stop, signalled, tmp_path, monkeypatch):
    """A Ctrl-C (SIGINT) or the worker's own SIGTERM (WorkerStopped) during the fit: the fit gets
    the same signal; it is interrupted, and stopped (its worker stops too)."""
    fit = StoppingFit(ends_after=3)
    real_wait = fit.wait

    def interrupted_wait(timeout=None):
        if timeout is None and not fit.moves:
            fit.moves.append("interrupted")
            raise stop
        return real_wait(timeout)

    fit.wait = interrupted_wait
    monkeypatch.setattr(trials.subprocess, "Popen", lambda *args, **kwargs: fit)  # faked: the fit's process
    found = trials.run_fit(["lit-dl", "fit"], tmp_path / "trial.log", {})
    assert found == Fit(-signal.SIGTERM, None, "interrupted", f"exit code {-signal.SIGTERM}", stopped=True)
    assert fit.moves == ["interrupted", "wait 5", signalled, f"wait {trials.STOP_WAIT_S}"]


def test_a_fit_stopped_by_a_signal_counts_as_interrupted():
    assert trials.STOP_CODES == (128 + signal.SIGINT, 128 + signal.SIGUSR1, 128 + signal.SIGTERM) == (130, 138, 143)
    assert trials.STOP_WAIT_S == 300


def test_a_trials_score_is_its_runs_best_value_in_the_goals_direction(tmp_path):
    from tests.commands.test_compare import write_run

    run_dir = str(write_run(tmp_path / "exp" / "version_0", lr=0.1, val_losses=(0.9, 0.5, 0.6)))
    assert trials.best_value(run_dir, "val/loss", typed("minimize")) == 0.5  # the goal as the sweep file gives it
    assert trials.best_value(run_dir, "val/loss", typed("maximize")) == 0.9
    assert trials.best_value(run_dir, "val/f1", typed("maximize")) is None

