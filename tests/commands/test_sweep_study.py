"""A sweep's study on real Optuna with its journal file: pruning, Bayesian search, two worker
processes sharing one study, and a sweep killed with SIGKILL then resumed."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from tests.helpers.paths import QUICKSTART, REPO

from lit_dl.commands.sweep import study

MAX_LR = "model.init_args.scheduler.init_args.max_lr"
TINY = ["--data.init_args.n_train", "256", "--data.init_args.n_val", "64", "--test_after_fit", "false"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(f"config: {QUICKSTART}\n{text}")
    return path


def rows(record: Path) -> list[dict]:
    return json.loads((record / "trials.json").read_text())


def test_a_trial_worse_than_the_median_is_pruned_and_recorded_so(lit_dl, tmp_path):
    # The second trial's learning rate is too small to learn: after its first epoch its val/loss is
    # above the first trial's, the median of the finished ones, and it is stopped.
    grid = write(tmp_path, f"early_terminate: {{type: median, min_iter: 1, startup: 1}}\nparameters:\n  {MAX_LR}: [0.03, 1.0e-7]\n")
    code, out, err = lit_dl("sweep", grid, "--root", tmp_path / "runs", "--", *TINY, "--trainer.max_epochs", "3")

    assert code == 0, err
    record = tmp_path / "runs" / "grid" / "sweep_0"
    assert [(row["status"], row["epochs"]) for row in rows(record)] == [("completed", 3), ("pruned", 1)]
    pruned = Path(rows(record)[1]["run_dir"])
    results = json.loads((pruned / "results.json").read_text())
    assert results["status"] == "pruned" and results["epochs"] == 1
    assert "  pruned in " in out and "pruned" in out.split("\ngrid: ")[0].split("version_1")[-1]  # the compare table shows the status
    found = json.loads((record / "sweep.json").read_text())
    assert found["trials"]["pruned"] == 1 and found["epochs_trained"] == 4 and found["pruner"][0] == "MedianPruner"
    trial = optuna.load_study(study_name="grid", storage=study.storage(record)).get_trials()[1]
    assert trial.state.name == "PRUNED" and list(trial.intermediate_values) == [1]


@pytest.mark.slow
def test_bayes_with_hyperband_runs_exactly_count_trials_and_collects_importances(lit_dl, tmp_path):
    grid = write(tmp_path, f"""\
method: bayes
count: 4
metric: {{name: val/acc, goal: maximize}}
early_terminate: {{type: hyperband, min_iter: 1, max_iter: 3, eta: 3}}
parameters:
  {MAX_LR}: {{distribution: log_uniform_values, min: 1.0e-4, max: 0.1}}
  model.init_args.optimizer.init_args.weight_decay: {{values: [0.0, 0.01]}}
""")
    code, out, err = lit_dl("sweep", grid, "--root", tmp_path / "runs", "--", *TINY, "--trainer.max_epochs", "3")

    assert code == 0, err
    record = tmp_path / "runs" / "grid" / "sweep_0"
    assert {row["status"] for row in rows(record)} <= {"completed", "pruned"} and len(rows(record)) == 4
    trials = optuna.load_study(study_name="grid", storage=study.storage(record)).get_trials()
    assert len(trials) == 4 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    code, out, err = lit_dl("sweep", "--collect", record)
    assert code == 0 and "best trials (val/acc, maximized):" in out
    found = json.loads((record / "sweep.json").read_text())
    assert found["best"] and found["method"] == "bayes"
    if found["trials"]["completed"] >= 2:
        assert set(found["importances"]) <= {MAX_LR, "model.init_args.optimizer.init_args.weight_decay"}


@pytest.mark.slow
def test_two_local_workers_share_one_study_and_run_each_trial_once(lit_dl, tmp_path):
    grid = write(tmp_path, f"parameters:\n  {MAX_LR}: [0.003, 0.01, 0.03, 0.1]\n")
    code, out, err = lit_dl("sweep", grid, "--workers", "2", "--root", tmp_path / "runs", "--", *TINY, "--trainer.max_epochs", "1")

    assert code == 0, err
    record = tmp_path / "runs" / "grid" / "sweep_0"
    trials = optuna.load_study(study_name="grid", storage=study.storage(record)).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert sorted(t.user_attrs["values"][MAX_LR] for t in trials) == [0.003, 0.01, 0.03, 0.1]
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers took trials
    assert len(list((tmp_path / "runs" / "grid").glob("version_*"))) == 4
    assert not list((record / "workers").iterdir())  # each worker's lock is gone with it


@pytest.mark.slow
def test_a_sweep_killed_mid_trial_resumes_and_continues_that_trials_run(tmp_path):
    grid = write(tmp_path, f"parameters:\n  {MAX_LR}: [0.003, 0.01, 0.03]\n")
    root = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "lit_dl.cli", "sweep"]
    sweep = subprocess.Popen([*command, str(grid), "--root", str(root), "--", *TINY, "--trainer.max_epochs", "4"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = root / "grid" / "version_1"
    deadline = time.monotonic() + 240
    while not (second / "checkpoints" / "last.ckpt").is_file():  # the second trial has saved an epoch
        assert time.monotonic() < deadline and sweep.poll() is None
        time.sleep(0.2)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()

    done = subprocess.run([*command, "--resume", str(root / "grid" / "sweep_0")], env=env, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 interrupted and 0 failed trial(s) queued again" in done.stdout
    record = root / "grid" / "sweep_0"
    assert [(row["status"], row["attempts"]) for row in rows(record)] == [("completed", 1), ("completed", 2), ("completed", 1)]
    assert rows(record)[1]["run_dir"] == str(second)  # continued, not started again
    assert sorted(p.name for p in (root / "grid").glob("version_*")) == ["version_0", "version_1", "version_2"]
    with open(second / "metrics.csv", newline="") as file:
        validated = [int(row["epoch"]) for row in csv.DictReader(file) if row.get("val/loss")]
    assert validated == [0, 1, 2, 3]  # every epoch validated once across the kill
    assert json.loads((second / "results.json").read_text())["status"] == "completed"
    states = [t.state.name for t in optuna.load_study(study_name="grid", storage=study.storage(record)).get_trials()]
    assert sorted(states) == ["COMPLETE"] * 3 + ["FAIL"]  # the killed attempt, then its retry
