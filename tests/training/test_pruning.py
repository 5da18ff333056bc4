"""SweepPruning: a real fit reports to a real Optuna trial (journal file) and stops when pruned."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from tests.helpers.paths import QUICKSTART

from lit_dl.training.pruning import TRIAL_ENV

CALLBACK = '--trainer.callbacks+={"class_path": "lit_dl.training.pruning.SweepPruning", "init_args": {"monitor": "val/loss"}}'
TINY = ["--data.init_args.n_train", "128", "--data.init_args.n_val", "64", "--test_after_fit", "false", "--trainer.max_epochs", "4"]


@pytest.fixture
def running_trial(tmp_path):
    """A study in a journal file with trial 0 running, as a sweep's worker leaves it."""
    journal = str(tmp_path / "study.journal")
    study = optuna.create_study(storage=JournalStorage(JournalFileBackend(journal)), study_name="s")
    study.enqueue_trial({}, user_attrs={"slot": 0})
    study.ask()
    return journal, study


def fit(lit_dl, tmp_path, *extra: str):
    return lit_dl("fit", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path / "runs", CALLBACK, *TINY, *extra)


def test_a_pruned_run_stops_after_its_epoch_with_status_pruned_and_exit_0(lit_dl, tmp_path, monkeypatch, running_trial):
    journal, study = running_trial
    # ThresholdPruner: any val/loss above 0 is pruned once two epochs are done.
    pruner = ["ThresholdPruner", {"upper": 0.0, "n_warmup_steps": 2}]
    monkeypatch.setenv(TRIAL_ENV, json.dumps({"journal": journal, "study": "s", "trial": 0, "pruner": pruner}))

    code, out, err = fit(lit_dl, tmp_path)

    assert code == 0, err
    message, run_dir = out.strip().splitlines()[-2:]
    assert message.startswith("pruned by the sweep after epoch 2: val/loss ") and "Traceback" not in err
    results = json.loads((Path(run_dir) / "results.json").read_text())
    assert results["status"] == "pruned" and results["epochs"] == 2
    epochs = {line.split(",")[0] for line in (Path(run_dir) / "metrics.csv").read_text().splitlines()[1:]}
    assert epochs == {"0", "1"}  # two epochs trained and validated, the third never started
    assert (Path(run_dir) / "checkpoints" / "last.ckpt").is_file()
    trial = study.get_trials()[0]
    assert sorted(trial.intermediate_values) == [1, 2] and trial.state.name == "RUNNING"  # the worker tells the outcome
    assert trial.user_attrs["run_dir"] == run_dir


def test_without_a_trial_named_the_callback_does_nothing(lit_dl, tmp_path, monkeypatch, running_trial):
    """A trial's config.yaml rerun by hand trains as any run."""
    monkeypatch.delenv(TRIAL_ENV, raising=False)
    code, out, err = fit(lit_dl, tmp_path, "--trainer.max_epochs", "2")
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    assert running_trial[1].get_trials()[0].intermediate_values == {}


def test_a_finished_trial_is_not_reported_to(lit_dl, tmp_path, monkeypatch, running_trial):
    journal, study = running_trial
    study.tell(0, 1.0)
    monkeypatch.setenv(TRIAL_ENV, json.dumps({"journal": journal, "study": "s", "trial": 0, "pruner": ["ThresholdPruner", {"upper": 0.0}]}))
    code, out, err = fit(lit_dl, tmp_path, "--trainer.max_epochs", "2")
    assert code == 0, err
    assert json.loads((Path(out.strip().splitlines()[-1]) / "results.json").read_text())["status"] == "completed"


class Trial:
    """A stand-in Optuna trial whose pruner prunes from a given epoch on."""

    def __init__(self, prune_from: int = 99) -> None:
        self.reported, self.prune_from = [], prune_from

    def report(self, value, step):
        self.reported.append((value, step))

    def should_prune(self):
        return self.reported[-1][1] >= self.prune_from


def stand_in_trainer(epoch: int, value, sanity: bool = False):
    from types import SimpleNamespace

    import torch

    metrics = {} if value is None else {"val/acc": torch.tensor(value)}
    return SimpleNamespace(sanity_checking=sanity, current_epoch=epoch, callback_metrics=metrics, should_stop=False, log_dir="/runs/x/version_0",
                           strategy=SimpleNamespace(broadcast=lambda value, src: value))


def test_each_validation_reports_the_metric_at_the_epochs_trained_and_a_prune_stops_after_the_epoch(monkeypatch):
    from lit_dl.errors import RunPruned
    from lit_dl.training.pruning import SweepPruning

    monkeypatch.setenv(TRIAL_ENV, "{}")
    callback = SweepPruning(monitor="val/acc")
    callback._trial = Trial(prune_from=2)
    sanity = stand_in_trainer(0, 0.1, sanity=True)
    callback.on_validation_end(sanity, None)  # the sanity check is not an epoch
    first = stand_in_trainer(0, 0.5)
    callback.on_validation_end(first, None)
    assert callback._trial.reported == [(0.5, 1)] and not first.should_stop
    callback.on_train_end(first, None)  # not pruned: ends as usual
    second = stand_in_trainer(1, 0.25)
    callback.on_validation_end(second, None)
    assert second.should_stop and callback._pruned == (2, 0.25)
    later = stand_in_trainer(4, 0.2)  # min_epochs held the stop
    callback.on_validation_end(later, None)
    assert callback._pruned == (2, 0.25)  # the first decision stands
    with pytest.raises(RunPruned) as raised:
        callback.on_train_end(later, None)
    assert str(raised.value) == "pruned by the sweep after epoch 4: val/acc 0.25"
    assert (raised.value.epoch, raised.value.run_dir) == (4, "/runs/x/version_0")


def test_a_metric_that_is_not_finite_prunes_without_a_report_and_a_missing_one_is_a_user_error(monkeypatch):
    from lit_dl.errors import UserError
    from lit_dl.training.pruning import SweepPruning

    monkeypatch.setenv(TRIAL_ENV, "{}")
    callback = SweepPruning(monitor="val/acc")
    callback._trial = Trial()
    nan = stand_in_trainer(2, float("nan"))
    callback.on_validation_end(nan, None)
    assert nan.should_stop and callback._trial.reported == [] and callback._pruned[0] == 3
    with pytest.raises(UserError, match="the sweep's metric val/acc is not logged; set the sweep file's metric.name"):
        SweepPruning(monitor="val/acc")._report(stand_in_trainer(0, None))
    monkeypatch.delenv(TRIAL_ENV)
    quiet = SweepPruning(monitor="val/acc")
    quiet._trial = Trial(prune_from=0)
    outside = stand_in_trainer(0, 0.5)
    quiet.on_validation_end(outside, None)  # no trial named: a rerun outside the sweep
    assert quiet._trial.reported == [] and not outside.should_stop
    assert SweepPruning().monitor == "val/loss"


def test_other_ranks_follow_rank_zeros_decision(monkeypatch):
    from lit_dl.training.pruning import SweepPruning

    monkeypatch.setenv(TRIAL_ENV, "{}")
    other_rank = SweepPruning()  # no trial opened off rank zero
    stand_in = stand_in_trainer(1, 0.5)
    stand_in.strategy.broadcast = lambda value, src: (2, 0.5) if src == 0 else None
    other_rank.on_validation_end(stand_in, None)
    assert stand_in.should_stop and other_rank._pruned == (2, 0.5)


def test_open_trial_gives_the_running_trial_none_for_a_finished_one_and_refuses_a_shared_journal(tmp_path):
    from lit_dl.training.pruning import open_trial

    journal = str(tmp_path / "study.journal")
    storage = JournalStorage(JournalFileBackend(journal))
    study = optuna.create_study(storage=storage, study_name="s")
    first, second = study.ask(), study.ask()
    named = {"journal": journal, "study": "s", "pruner": ["MedianPruner", {"n_startup_trials": 0}]}
    opened = open_trial({**named, "trial": second.number})
    assert opened.number == 1 and isinstance(opened.study.pruner, optuna.pruners.MedianPruner)
    study.tell(first, 0.5)
    assert open_trial({**named, "trial": 0}) is None  # finished: a config of the sweep rerun by hand
    assert isinstance(open_trial({"journal": journal, "study": "s", "trial": 1}).study.pruner, optuna.pruners.NopPruner)
    other = optuna.create_study(storage=storage, study_name="t")
    other.ask()  # storage id 2, number 0
    with pytest.raises(RuntimeError, match="trial 2 of .*study.journal has storage id 0"):
        open_trial({"journal": journal, "study": "t", "trial": 2})
