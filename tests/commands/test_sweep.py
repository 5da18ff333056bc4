"""`lit-dl sweep`: a grid runs each trial as its own `lit-dl fit`; a failing trial stops no other."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from tests.helpers.paths import QUICKSTART

from lit_dl.commands import sweep
from lit_dl.errors import UserError

MAX_LR = "model.init_args.scheduler.init_args.max_lr"
SMALL = ["--trainer.max_epochs", "1", "--data.init_args.n_train", "500", "--test_after_fit", "false"]


def write_grid(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text.replace("QUICKSTART", str(QUICKSTART)))
    return path


def test_grid_runs_every_trial_records_the_failed_one_and_ends_with_the_table(lit_dl, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    grid = write_grid(tmp_path, f"config: QUICKSTART\nparameters:\n  {MAX_LR}: {{values: [0.003, 0.01, 0.03, oops]}}\n")
    root = tmp_path / "runs"

    code, out, err = lit_dl("sweep", grid, "--root", root, "--", *SMALL)

    assert code == 1, err  # a trial failed; the others ran
    assert out.count("  ok in ") == 3 and "FAILED (exit 2)" in out and "max_lr=oops" in err
    table = out[re.search(r"^grid *$", out, re.MULTILINE).start() :]  # one experiment's runs: its name is the title
    values = [line.split()[2] for line in table.splitlines() if line.startswith("version_")]  # run, status, max_lr
    assert sorted(values, key=float) == ["0.003", "0.01", "0.03"]  # one row each, best val/loss first
    assert "max_lr" in table and "val/loss" in table and "(best)" in table
    trials = json.loads((root / "grid" / "sweep_0" / "trials.json").read_text())
    assert [t["status"] for t in trials] == ["ok", "ok", "ok", "failed"]
    assert [Path(t["run_dir"]).name for t in trials[:3]] == ["version_0", "version_1", "version_2"]
    assert trials[3]["run_dir"] is None and "max_lr" in trials[3]["error"]
    assert "lit-dl: error:" in Path(trials[3]["log"]).read_text()
    for trial in trials[:3]:  # each trial a normal run directory with its own value
        config = yaml.safe_load((Path(trial["run_dir"]) / "config.yaml").read_text())
        assert config["model"]["init_args"]["scheduler"]["init_args"]["max_lr"] == trial["params"][MAX_LR]

    wandb_sweep = yaml.safe_load((root / "grid" / "sweep_0" / "wandb_sweep.yaml").read_text())
    assert wandb_sweep["method"] == "grid" and wandb_sweep["metric"] == {"name": "val/loss", "goal": "minimize"}
    assert wandb_sweep["parameters"] == {MAX_LR: {"values": [0.003, 0.01, 0.03, "oops"]}}
    assert wandb_sweep["command"][:2] == ["lit-dl", "fit"] and wandb_sweep["command"][-1] == "${args}"
    assert wandb_sweep["command"][2] == "--config" and Path(wandb_sweep["command"][3]).resolve() == QUICKSTART
    assert "--trainer.logger+=WandbLogger" in wandb_sweep["command"]  # the agent's trials must report to W&B


def test_grid_is_the_product_of_the_values_in_file_order(tmp_path):
    grid = write_grid(tmp_path, "config: QUICKSTART\nparameters:\n  a: [1, 2]\n  seed_everything: {values: [0, 1]}\n  b: {value: x}\n")
    trials = sweep.trial_params(sweep.load_sweep(grid))
    assert trials == [{"a": 1, "seed_everything": 0, "b": "x"}, {"a": 1, "seed_everything": 1, "b": "x"},
                      {"a": 2, "seed_everything": 0, "b": "x"}, {"a": 2, "seed_everything": 1, "b": "x"}]


def test_random_search_samples_each_distribution_reproducibly(tmp_path):
    grid = write_grid(tmp_path, """\
config: QUICKSTART
method: random
count: 20
parameters:
  lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-1}
  dropout: {distribution: uniform, min: 0.0, max: 0.5}
  width: {distribution: int_uniform, min: 16, max: 128}
  act: {values: [relu, gelu]}
""")
    spec = sweep.load_sweep(grid)
    trials = sweep.trial_params(spec, seed=3)
    assert len(trials) == 20 and trials == sweep.trial_params(spec, seed=3) != sweep.trial_params(spec, seed=4)
    assert all(1e-4 <= t["lr"] <= 1e-1 and 0 <= t["dropout"] <= 0.5 and 16 <= t["width"] <= 128 for t in trials)
    assert all(isinstance(t["width"], int) for t in trials) and {t["act"] for t in trials} == {"relu", "gelu"}
    assert sweep.wandb_sweep_file(spec, [])["run_cap"] == 20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config: QUICKSTART\nparameters:\n  lr: {distribution: uniform, min: 0, max: 1}\n", "method: random"),
        ("config: QUICKSTART\nmethod: random\nparameters:\n  lr: [1, 2]\n", "count"),
        ("config: QUICKSTART\nmethod: bayes\nparameters:\n  lr: [1, 2]\n", "grid, random"),
        ("config: QUICKSTART\nparamters:\n  lr: [1, 2]\n", "unknown key"),
        ("config: missing.yaml\nparameters:\n  lr: [1, 2]\n", "not found"),
        ("config: QUICKSTART\n", "no 'parameters'"),
    ],
)
def test_sweep_file_mistakes_are_user_errors(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        sweep.load_sweep(write_grid(tmp_path, text))


def test_flags_keep_values_whole():
    assert sweep.flag("a.b", -0.5) == "--a.b=-0.5"
    assert sweep.flag("hidden_dims", [64, 32]) == "--hidden_dims=[64, 32]"
    assert sweep.flag("x", True) == "--x=true" and sweep.flag("x", None) == "--x=null"


def test_dry_run_prints_the_trials_and_writes_only_the_wandb_file(lit_dl, tmp_path):
    example = Path(__file__).resolve().parents[2] / "experiments" / "sweeps" / "quickstart.yaml"
    wandb_file = tmp_path / "sweep.yaml"
    code, out, err = lit_dl("sweep", example, "--root", tmp_path / "runs", "--dry_run", "--wandb_file", wandb_file,
                            "--", "--trainer.max_epochs", "2")
    assert code == 0, err
    assert out.count("lit-dl fit --config") == 6 and "max_lr=0.03 seed_everything=1" in out
    assert "--trainer.max_epochs 2" in out and "--seed_everything=1" in out
    assert not (tmp_path / "runs").exists()
    command = yaml.safe_load(wandb_file.read_text())["command"]
    assert command[-5:] == ["--name", "quickstart_lr_seed", "--trainer.max_epochs", "2", "${args}"]


def compare_table(out: str) -> str:
    """The compare table a sweep ends with: one experiment's runs, titled with its name."""
    return out[re.search(r"^grid *$", out, re.MULTILINE).start() :]


@pytest.mark.slow
def test_resume_runs_only_the_unfinished_trials_and_collect_prints_the_table_again(lit_dl, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    grid = write_grid(tmp_path, f"config: QUICKSTART\nparameters:\n  {MAX_LR}: {{values: [0.01, oops]}}\n")
    root = tmp_path / "runs"
    code, out, _ = lit_dl("sweep", grid, "--root", root, "--", *SMALL)
    assert code == 1
    record = root / "grid" / "sweep_0"
    table = compare_table(out)

    code, out, err = lit_dl("sweep", "--resume", record)

    assert code == 1 and "trial 2/2" in out and "trial 1/2" not in out  # the finished trial is not rerun
    assert sorted(p.name for p in (root / "grid").iterdir()) == ["sweep_0", "version_0"]
    assert [t["status"] for t in json.loads((record / "trials.json").read_text())] == ["ok", "failed"]
    code, out, err = lit_dl("sweep", "--collect", record)
    assert code == 1 and compare_table(out) == table and "failed: trial 2" in err


@pytest.mark.parametrize(
    "args, message",
    [([], "takes one of GRID.yaml"), (["--collect", "nowhere"], "is not a sweep record")],
)
def test_sweep_without_a_grid_or_record_is_a_user_error(lit_dl, args, message):
    code, out, err = lit_dl("sweep", *args)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1
