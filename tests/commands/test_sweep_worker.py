"""A worker's handling of one trial, its fits faked: seeds, the mean score, pruned, failed and
stopped trials, and what it prints (tests/commands/test_sweep_study.py runs real fits)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import optuna
import pytest

from lit_dl.commands.sweep import study as records
from lit_dl.commands.sweep import trials, worker
from lit_dl.commands.sweep.trials import Fit
from tests.helpers.typed import typed


def settings(seeds=None):
    return {"name": "lr", "metric": {"name": "val/acc", "goal": typed("maximize")}, "slots": 2, "seeds": seeds, "fixed": {"trainer.max_epochs": 2},
            "searched": {}, "short_names": {"model.lr": "lr", "trainer.max_epochs": "max_epochs"}, "pruner": None, "command": ["fit"]}


def taken(tmp_path, given):
    record = tmp_path / "sweep_0"
    record.mkdir()
    study = records.create(record, given, [{}, {}])
    return record, study, records.take(study, record, "w")


@pytest.fixture
def fits(monkeypatch):
    """The fits a trial runs: each call takes the next outcome; the commands are kept."""
    planned, commands = [], []

    def run_fit(command, log, env, run_dir):
        commands.append((command, env.get(trials.TRIAL_ENV) is not None))
        fit = planned.pop(0)
        return dataclasses.replace(fit, status=typed(fit.status))  # read from the run's files, as a real fit's

    monkeypatch.setattr(trials, "run_fit", run_fit)
    monkeypatch.setattr(trials, "best_value", lambda run_dir, metric, goal: {"/r/0": 0.5, "/r/1": 0.7, "/r/2": None}[run_dir])
    return planned, commands


def test_a_trial_of_two_seeds_scores_the_mean_of_their_bests_and_only_the_first_reports(tmp_path, fits, capsys):
    planned, commands = fits
    record, study, trial = taken(tmp_path, settings(seeds=[0, 1]))
    planned += [Fit(0, "/r/0", "completed", None), Fit(0, "/r/1", "completed", None)]
    assert worker.run_trial(study, trial, record, settings(seeds=[0, 1]), "w1: ", ["fit"]) is True
    done = study.get_trials(deepcopy=False)[trial.number]
    assert done.state == optuna.trial.TrialState.COMPLETE and done.value == pytest.approx(0.6)
    assert done.user_attrs["runs"] == {"0": "/r/0", "1": "/r/1"} and done.user_attrs["values"] == {"trainer.max_epochs": 2}
    assert [(c[-1], reports) for c, reports in commands] == [("--seed_everything=0", True), ("--seed_everything=1", False)]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "w1: trial 1/2  max_epochs=2" and out[1].startswith("w1:   ok in ") and out[1].endswith("s: /r/0, /r/1")


def test_a_retried_trial_runs_only_the_seeds_it_had_not_finished(tmp_path, fits, capsys):
    planned, commands = fits
    record, study, trial = taken(tmp_path, settings(seeds=[0, 1]))
    trial.set_user_attr("runs", {"0": "/r/0"})  # the attempt before finished seed 0
    planned.append(Fit(0, "/r/1", "completed", None))
    assert worker.run_trial(study, trial, record, settings(seeds=[0, 1]), "", ["fit"]) is True
    assert [c[-1] for c, _ in commands] == ["--seed_everything=1"]
    done = study.get_trials(deepcopy=False)[trial.number]
    assert done.value == pytest.approx(0.6) and done.user_attrs["runs"] == {"0": "/r/0", "1": "/r/1"}


def test_sigterm_to_a_worker_stops_its_fit_as_workerstopped():
    with pytest.raises(trials.WorkerStopped):
        worker._stop_worker(15, None)


def test_a_completed_trial_says_how_long_its_fits_took(tmp_path, fits, capsys, monkeypatch):
    planned, _ = fits
    record, study, trial = taken(tmp_path, settings())
    planned.append(Fit(0, "/r/0", "completed", None))
    clock = iter([100.0, 312.5])  # the trial's start, then its end
    monkeypatch.setattr(worker, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    assert worker.run_trial(study, trial, record, settings(), "", ["fit"]) is True
    assert capsys.readouterr().out.splitlines()[-1] == "  ok in 212.5s: /r/0"


def test_a_pruned_first_seed_ends_the_trial_pruned(tmp_path, fits, capsys):
    planned, commands = fits
    record, study, trial = taken(tmp_path, settings(seeds=[0, 1]))
    planned.append(Fit(0, "/r/0", "pruned", None))
    assert worker.run_trial(study, trial, record, settings(seeds=[0, 1]), "", ["fit"]) is True
    assert study.get_trials(deepcopy=False)[trial.number].state == optuna.trial.TrialState.PRUNED and len(commands) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("  pruned in ")


def test_a_metric_never_logged_fails_the_trial_with_the_reason(tmp_path, fits, capsys):
    planned, _ = fits
    record, study, trial = taken(tmp_path, settings())
    planned.append(Fit(0, "/r/2", "completed", None))
    assert worker.run_trial(study, trial, record, settings(), "", ["fit"]) is True
    failed = study.get_trials(deepcopy=False)[trial.number]
    assert failed.state == optuna.trial.TrialState.FAIL
    assert failed.user_attrs["error"] == "the sweep's metric val/acc was not logged; set metric.name to a logged metric"
    assert capsys.readouterr().out.splitlines()[-1] == "  FAILED: val/acc was not logged"


def test_a_failed_fit_fails_the_trial_without_a_retry(tmp_path, fits, capsys):
    planned, _ = fits
    record, study, trial = taken(tmp_path, settings())
    planned.append(Fit(1, "/r/0", "failed", "bad lr"))
    assert worker.run_trial(study, trial, record, settings(), "", ["fit"]) is True
    attempts = study.get_trials(deepcopy=False)
    assert attempts[trial.number].state == optuna.trial.TrialState.FAIL and attempts[trial.number].user_attrs["error"] == "bad lr"
    assert attempts[trial.number].user_attrs["runs"] == {}  # a failed seed's run does not count
    assert len(attempts) == 2  # not queued again
    assert capsys.readouterr().out.splitlines()[-1] == f"  FAILED (exit 1): bad lr  (log: {record / f'trial_{trial.number}.log'})"


def test_a_fit_stopped_by_a_signal_queues_the_trial_again_and_stops_the_worker(tmp_path, fits, capsys):
    planned, _ = fits
    record, study, trial = taken(tmp_path, settings())
    planned.append(Fit(143, "/r/0", "interrupted", "stopped"))
    assert worker.run_trial(study, trial, record, settings(), "", ["fit"]) is False
    attempts = study.get_trials(deepcopy=False)
    assert attempts[trial.number].user_attrs["error"] == "stopped by a signal; queued again to continue its run"
    assert attempts[-1].state == optuna.trial.TrialState.WAITING and attempts[-1].user_attrs["slot"] == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  stopped: queued again, to continue /r/0"
    record2 = tmp_path / "again"
    record2.mkdir()
    study2 = records.create(record2, settings(), [{}])
    trial2 = records.take(study2, record2, "w")
    planned.append(Fit(-2, None, "interrupted", None, stopped=True))  # the worker itself was told to stop
    with pytest.raises(KeyboardInterrupt):
        worker.run_trial(study2, trial2, record2, settings(), "", ["fit"])
    assert capsys.readouterr().out.splitlines()[-1] == "  stopped: queued again, to continue from the start"


def test_a_trial_is_described_by_its_searched_values_under_short_names():
    names = {"short_names": {"model.lr": "lr", "model.depth": "depth", "model.act": "act"}}
    assert worker.describe({"model.lr": 0.000123456, "model.depth": 3, "model.act": "relu", "other": 1}, names) == "lr=0.0001235 depth=3 act=relu"
