"""What a sweep found, from a study built by hand: trials.json's rows, sweep.json, the printed summary."""

from __future__ import annotations

import json

import optuna
import pytest

from lit_dl.commands.sweep import collect
from lit_dl.commands.sweep import study as records
from tests.helpers.typed import typed_tree

pytestmark = pytest.mark.broken_runs("hand-written results.json files for the epochs")

# As a sweep's study keeps them (JSON): strings built at run time, not interned literals.
SETTINGS = typed_tree({"name": "lr", "method": "grid", "metric": {"name": "val/acc", "goal": "maximize"}, "slots": 4, "seeds": None, "pruner": None,
                      "parameters": {"model.lr": {"values": [0.1, 0.2, 0.3, 0.4]}}, "slurm": None, "job": None, "workers": 2, "wandb_file": "w.yaml",
                      "short_names": {"model.lr": "lr"}, "command": ["fit"], "fixed": {}})


def run_dir(tmp_path, name, epochs):
    folder = tmp_path / "runs" / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"status": "completed", "epochs": epochs}))
    return str(folder)


@pytest.fixture
def swept(tmp_path):
    """Slot 0 completed (0.7), slot 1 completed (0.9), slot 2 failed twice, slot 3 running."""
    record = tmp_path / "sweep_0"
    record.mkdir()
    study = records.create(record, SETTINGS, [{"model.lr": v} for v in ("0.1", "0.2", "0.3", "0.4")])
    for value, epochs in ((0.7, 3), (0.9, 5)):
        trial = records.take(study, record, "w")
        run = run_dir(tmp_path, f"version_{trial.number}", epochs)
        trial.set_user_attr("values", {"model.lr": 0.1 * (trial.number + 1)})
        trial.set_user_attr("runs", {"None": run})
        study.tell(trial, value)
    failed = records.take(study, record, "w")
    records.fail_and_retry(study, failed, "first try")
    records.take(study, record, "w")  # slot 3: running
    again = records.take(study, record, "w")  # slot 2's second attempt
    records.fail_and_retry(study, again, "bad lr", retry=False)
    (record / f"trial_{again.number}.log").write_text("boom\n")
    return record, study


def test_each_trial_is_a_row_of_its_newest_attempt(swept):
    record, study = swept
    rows = collect.trial_rows(study, record)
    assert [(r["index"], r["status"], r["value"], r["epochs"], r["attempts"], r["error"]) for r in rows] == [
        (0, "completed", 0.7, 3, 1, None), (1, "completed", 0.9, 5, 1, None), (2, "failed", None, None, 2, "bad lr"), (3, "running", None, None, 1, None)]
    assert rows[2]["log"] == str(record / f"trial_{rows[2]['number']}.log") and rows[0]["log"] is None
    assert rows[1]["run_dir"] == rows[1]["run_dirs"][0] and rows[3]["run_dir"] is None and rows[3]["run_dirs"] == []


def test_the_summary_counts_trials_and_epochs_and_ranks_the_best_by_the_goal(swept, capsys):
    record, study = swept
    found = collect.summary(study, SETTINGS, collect.trial_rows(study, record))
    assert found["trials"] == {"completed": 2, "pruned": 0, "failed": 1, "running": 1, "pending": 0}
    assert found["epochs_trained"] == 8 and found["name"] == "lr" and found["workers"] == 2 and found["wandb_file"] == "w.yaml"
    assert [(b["trial"], b["value"]) for b in found["best"]] == [(2, 0.9), (1, 0.7)]
    minimizing = collect.summary(study, typed_tree({**SETTINGS, "metric": {"name": "val/acc", "goal": "minimize"}}), collect.trial_rows(study, record))
    assert [b["trial"] for b in minimizing["best"]] == [1, 2]
    collect.print_summary({**found, "importances": {"model.lr": 1.0}}, SETTINGS)
    assert capsys.readouterr().out == ("\nlr: 2 completed, 1 failed, 1 running; 8 epochs trained\n"
                                       "best trials (val/acc, maximized):\n"
                                       "  trial   2  0.9  lr=0.2\n"
                                       "  trial   1  0.7  lr=0.1\n"
                                       "parameter importances: lr 1.00\n")
    collect.print_summary({**found, "best": [], "importances": None}, {**SETTINGS, "seeds": [0, 1]})
    assert capsys.readouterr().out == "\nlr: 2 completed, 1 failed, 1 running; 8 epochs trained\n"


def test_at_most_five_best_trials_and_no_importances_before_two_finished(tmp_path):
    record = tmp_path / "sweep_0"
    record.mkdir()
    study = records.create(record, SETTINGS, [{}] * 7)
    assert collect.importances(study) is None
    rows = [{"index": i, "value": float(i), "params": {}, "run_dirs": [], "status": "completed", "epochs": None} for i in range(7)]
    found = collect.summary(study, SETTINGS, rows)
    assert [b["trial"] for b in found["best"]] == [7, 6, 5, 4, 3] and found["epochs_trained"] == 0


def test_importances_of_a_parameter_that_changed_the_score():
    study = optuna.create_study(direction="maximize")
    for lr, width in ((0.1, 8), (0.2, 8), (0.3, 16), (0.4, 16), (0.5, 8)):
        study.add_trial(optuna.trial.create_trial(params={"lr": lr, "width": width}, value=lr * 10,
                                                  distributions={"lr": optuna.distributions.FloatDistribution(0.0, 1.0),
                                                                 "width": optuna.distributions.IntDistribution(8, 16)}))
    found = collect.importances(study)
    assert set(found) <= {"lr", "width"} and found["lr"] > 0.5 and all(round(v, 4) == v for v in found.values())


def test_two_finished_trials_already_give_importances():
    study = optuna.create_study(direction="maximize")
    for lr in (0.1, 0.5):
        study.add_trial(optuna.trial.create_trial(params={"lr": lr}, value=lr * 10,
                                                  distributions={"lr": optuna.distributions.FloatDistribution(0.0, 1.0)}))
    assert collect.importances(study) == {"lr": 1.0}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))  # not finished: does not count
    one = optuna.create_study()
    one.add_trial(optuna.trial.create_trial(params={"lr": 0.1}, value=1.0, distributions={"lr": optuna.distributions.FloatDistribution(0.0, 1.0)}))
    assert collect.importances(one) is None
