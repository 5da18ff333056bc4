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
