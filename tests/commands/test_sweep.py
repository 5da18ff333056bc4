"""`lit-dl sweep`: each trial is its own `lit-dl fit`, drawn from a real Optuna study in a journal
file; a failing trial stops no other; pruned trials end with status `pruned`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
import yaml
from tests.helpers.paths import QUICKSTART

from lit_dl.commands import sweep
from lit_dl.commands.sweep import space, study, trials
from lit_dl.errors import UserError
from tests.helpers.typed import typed

MAX_LR = "model.init_args.scheduler.init_args.max_lr"
SMALL = ["--trainer.max_epochs", "1", "--data.init_args.n_train", "256", "--data.init_args.n_val", "64", "--test_after_fit", "false"]


def write_grid(tmp_path: Path, text: str, name: str = "grid.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("QUICKSTART", str(QUICKSTART)))
    return path


def compare_table(out: str) -> str:
    """The compare table a sweep ends with: one experiment's runs, titled with its name."""
    return out[re.search(r"^grid *$", out, re.MULTILINE).start() :]


def test_grid_runs_every_trial_records_the_failed_ones_and_ends_with_the_table(lit_dl, tmp_path):
    # max_epochs 0 parses (the sweep's check passes it) but the fit refuses it: those trials fail.
    grid = write_grid(tmp_path, f"config: QUICKSTART\nparameters:\n  {MAX_LR}: {{values: [0.003, 0.03]}}\n  trainer.max_epochs: [1, 0]\n")
    root = tmp_path / "runs"

    code, out, err = lit_dl("sweep", grid, "--root", root, "--", *SMALL)

    assert code == 1, err  # two trials failed; the others ran
    assert out.count("  ok in ") == 2 and out.count("FAILED (exit 2)") == 2 and "max_lr=0.003 max_epochs=0" in err
    table = compare_table(out)
    values = [line.split()[2] for line in table.splitlines() if line.startswith("version_")]  # run, status, max_lr
    assert sorted(values, key=float) == ["0.003", "0.03"]  # one row each
    assert "max_lr" in table and "val/loss" in table and "(best)" in table
    record = root / "grid" / "sweep_0"
    rows = json.loads((record / "trials.json").read_text())
    assert [t["status"] for t in rows] == ["completed", "failed", "completed", "failed"]
    assert [Path(t["run_dir"]).name for t in rows[::2]] == ["version_0", "version_1"]
    assert rows[1]["run_dir"] is None and "max_epochs" in rows[1]["error"]
    assert "lit-dl: error:" in Path(rows[1]["log"]).read_text()
    for row in rows[::2]:  # each trial a normal run directory with its own value
        config = yaml.safe_load((Path(row["run_dir"]) / "config.yaml").read_text())
        assert config["model"]["init_args"]["scheduler"]["init_args"]["max_lr"] == row["params"][MAX_LR]
    found = json.loads((record / "sweep.json").read_text())
    assert found["trials"] == {"completed": 2, "pruned": 0, "failed": 2, "running": 0, "pending": 0}
    assert found["best"][0]["value"] == min(row["value"] for row in rows[::2]) and found["epochs_trained"] == 2
    study_trials = optuna.load_study(study_name="grid", storage=study.storage(record)).get_trials()
    assert [t.state.name for t in study_trials] == ["COMPLETE", "FAIL", "COMPLETE", "FAIL"]

    wandb_sweep = yaml.safe_load((record / "wandb_sweep.yaml").read_text())
    assert wandb_sweep["method"] == "grid" and wandb_sweep["metric"] == {"name": "val/loss", "goal": "minimize"}
    assert wandb_sweep["parameters"] == {MAX_LR: {"values": [0.003, 0.03]}, "trainer.max_epochs": {"values": [1, 0]}}
    assert wandb_sweep["command"][:2] == ["lit-dl", "fit"] and wandb_sweep["command"][-1] == "${args}"
    assert wandb_sweep["command"][2] == "--config" and Path(wandb_sweep["command"][3]).resolve() == QUICKSTART
    assert "--trainer.logger+=WandbLogger" in wandb_sweep["command"]  # the agent's trials must report to W&B


def test_grid_is_the_product_of_the_values_in_file_order(tmp_path):
    grid = write_grid(tmp_path, "config: QUICKSTART\nparameters:\n  a: [1, 2]\n  seed_everything: {values: [0, 1]}\n  b: {value: x}\n"
                      "  c: {distribution: int_uniform, min: 3, max: 4}\n")
    spec = sweep.load_sweep(grid)
    assert sweep.grid_points(spec)[:3] == [{"a": 1, "seed_everything": 0, "c": 3}, {"a": 1, "seed_everything": 0, "c": 4},
                                           {"a": 1, "seed_everything": 1, "c": 3}]
    assert len(sweep.grid_points(spec)) == 8 and spec.fixed == {"b": "x"}


def test_each_distribution_draws_in_range_and_reproducibly_from_optuna(tmp_path):
    grid = write_grid(tmp_path, """\
config: QUICKSTART
method: random
count: 20
parameters:
  lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-1}
  dropout: {distribution: q_uniform, min: 0.0, max: 0.5, q: 0.1}
  width: {distribution: int_uniform, min: 16, max: 128}
  wd: {distribution: log_uniform, min: -5, max: -1}
  act: {values: [relu, gelu]}
  dims: {values: [[64, 32], [128]]}
""")
    spec = sweep.load_sweep(grid)
    settings = {"fixed": spec.fixed, "searched": spec.searched}

    def draw(seed: int) -> list[dict]:
        found = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        return [trials.suggest(found.ask(), settings) for _ in range(20)]

    drawn = draw(3)
    assert drawn == draw(3) != draw(4)
    assert all(1e-4 <= t["lr"] <= 1e-1 and 16 <= t["width"] <= 128 and 0.006 < t["wd"] < 0.37 for t in drawn)
    assert all(isinstance(t["width"], int) and abs(t["dropout"] * 10 - round(t["dropout"] * 10)) < 1e-9 for t in drawn)
    assert {t["act"] for t in drawn} == {"relu", "gelu"} and {tuple(t["dims"]) for t in drawn} == {(64, 32), (128,)}
    assert sweep.wandb_sweep_file(spec, [])["run_cap"] == 20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config: QUICKSTART\nparameters:\n  lr: {distribution: uniform, min: 0, max: 1}\n", "a grid cannot enumerate"),
        ("config: QUICKSTART\nmethod: bayes\nparameters:\n  lr: [1, 2]\n", "count"),
        ("config: QUICKSTART\nmethod: hyperopt\nparameters:\n  lr: [1, 2]\n", "grid, random, bayes"),
        ("config: QUICKSTART\nparamters:\n  lr: [1, 2]\n", "unknown key"),
        ("config: missing.yaml\nparameters:\n  lr: [1, 2]\n", "not found"),
        ("config: QUICKSTART\n", "no 'parameters'"),
        ("config: QUICKSTART\nmethod: random\ncount: 2\nparameters:\n  lr: {distribution: uniform, min: 1, max: 0.1}\n", "min 1 > max 0.1"),
        ("config: QUICKSTART\nmethod: random\ncount: 2\nparameters:\n  lr: {distribution: log_uniform_values, min: 0, max: 1}\n", "min > 0"),
        ("config: QUICKSTART\nparameters:\n  lr: {values: []}\n", "empty choice"),
        ("config: QUICKSTART\nmethod: random\ncount: 2\nparameters:\n  lr: {distribution: beta, min: 0, max: 1}\n", "distribution"),
    ],
)
def test_sweep_file_mistakes_are_user_errors(tmp_path, text, message):
    with pytest.raises(UserError, match=re.escape(message)):
        sweep.load_sweep(write_grid(tmp_path, text))


def test_flags_keep_values_whole():
    assert sweep.flag("a.b", -0.5) == "--a.b=-0.5"
    assert sweep.flag("hidden_dims", [64, 32]) == "--hidden_dims=[64, 32]"
    assert sweep.flag("x", True) == "--x=true" and sweep.flag("x", None) == "--x=null"


def test_a_json_choice_round_trips_through_optuna():
    spec = {"values": [[64, 32], {"a": 1}, 0.5, None]}
    assert [space.decode(spec, space.encode(v)) for v in spec["values"]] == spec["values"]
    assert space.distribution(spec).choices == ("[64, 32]", '{"a": 1}', 0.5, None)


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


@pytest.mark.parametrize(("method", "trials"), [("bayes", "4 bayes trials, each drawing"), ("random", "4 random trials, each drawing")])
def test_a_search_method_given_on_the_command_line_queues_count_trials_not_the_grid(lit_dl, tmp_path, method, trials):
    """--method bayes (or random) with --count 4 on a grid's file draws 4 trials from its values, not its 6 points."""
    example = Path(__file__).resolve().parents[2] / "experiments" / "sweeps" / "quickstart.yaml"
    code, out, err = lit_dl("sweep", example, "--root", tmp_path / "runs", "--dry_run", "--method", method, "--count", "4")
    assert code == 0, err
    assert trials in out and "trial 1/" not in out


@pytest.mark.slow
def test_resume_runs_only_the_unfinished_trials_and_collect_prints_the_table_again(lit_dl, tmp_path):
    grid = write_grid(tmp_path, "config: QUICKSTART\nparameters:\n  trainer.max_epochs: [1, 0]\n")
    root = tmp_path / "runs"
    code, out, _ = lit_dl("sweep", grid, "--root", root, "--", *SMALL)
    assert code == 1
    record = root / "grid" / "sweep_0"
    table = compare_table(out)

    code, out, err = lit_dl("sweep", "--resume", record)

    assert code == 1 and "trial 2/2" in out and "trial 1/2" not in out  # the finished trial is not rerun
    assert "0 interrupted and 1 failed trial(s) queued again" in out
    assert sorted(p.name for p in (root / "grid").iterdir()) == ["sweep_0", "version_0"]
    rows = json.loads((record / "trials.json").read_text())
    assert [(t["status"], t["attempts"]) for t in rows] == [("completed", 1), ("failed", 2)]
    code, out, err = lit_dl("sweep", "--collect", record)
    assert code == 1 and compare_table(out) == table and "failed: trial 2" in err


@pytest.mark.parametrize(
    "args, message",
    [([], "takes one of SWEEP.yaml"), (["--collect", "nowhere"], "is not a sweep record")],
)
def test_sweep_without_a_sweep_file_or_record_is_a_user_error(lit_dl, args, message):
    code, out, err = lit_dl("sweep", *args)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_without_optuna_the_sweep_says_how_to_install_it(lit_dl, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    code, out, err = lit_dl("sweep", write_grid(tmp_path, "config: QUICKSTART\nparameters:\n  lr: [1]\n"))
    assert code == 2 and "pip install 'lit-dl[sweep]'" in err and len(err.strip().splitlines()) == 1


def test_trials_of_a_sweep_share_a_wandb_group_and_only_the_first_seed_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_RUN_ID", "abc")  # a W&B run of the shell must not become every trial's
    settings = {"name": "grid", "pruner": ["MedianPruner", {}]}
    first = trials.fit_env(tmp_path / "sweep_3", settings, 7, report=True)
    later = trials.fit_env(tmp_path / "sweep_3", settings, 7, report=False)
    assert first["WANDB_RUN_GROUP"] == later["WANDB_RUN_GROUP"] == "grid-sweep_3" and "WANDB_RUN_ID" not in first
    named = json.loads(first[trials.TRIAL_ENV])
    assert named["trial"] == 7 and named["study"] == "grid" and named["journal"].endswith("sweep_3/study.journal")
    assert trials.TRIAL_ENV not in later


@pytest.mark.parametrize(("args", "message"), [
    (["grid.yaml", "--collect", "sweep_0"], "lit-dl sweep takes one of SWEEP.yaml, --collect SWEEP_DIR or --resume SWEEP_DIR; "
                                            "e.g. lit-dl sweep experiments/sweeps/quickstart.yaml"),
    (["grid.yaml", "--seeds", "0"], "--seeds 0 must be 1 or more"),
    (["grid.yaml", "--workers", "-1"], "--workers -1 must be 1 or more"),
    (["grid.yaml", "--count", "0"], "--count 0 must be 1 or more"),
    (["grid.yaml", "--max_concurrent", "0"], "--max_concurrent 0 must be 1 or more"),
])
def test_the_sweeps_own_flags_are_checked_first(args, message):
    with pytest.raises(UserError) as raised:
        sweep.main(args)
    assert str(raised.value) == message


def test_the_trials_root_is_the_last_experiment_files_and_sweeps_are_numbered_on(tmp_path):
    first, second, plain = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    first.write_text("trainer: {default_root_dir: /data/runs}\n")
    second.write_text("trainer: {default_root_dir: /scratch/runs}\n")
    plain.write_text("model: {}\n")
    assert sweep.default_root([first, second]) == "/scratch/runs"
    assert sweep.default_root([second, plain]) == "/scratch/runs"  # a file without one keeps the earlier
    assert sweep.default_root([plain]) == "runs" and sweep.default_root([]) == "runs"
    experiment = tmp_path / "exp"
    assert sweep.next_sweep_dir(experiment) == experiment / "sweep_0"
    for name in ("sweep_0", "sweep_9", "sweep_x", "version_12"):
        (experiment / name).mkdir(parents=True)
    assert sweep.next_sweep_dir(experiment) == experiment / "sweep_10"


def test_the_settings_show_the_parameters_that_vary_by_short_names():
    from types import SimpleNamespace

    grid = space.Sweep("g", typed("grid"), [],  # the method as the sweep file gives it
                       {"model.init_args.lr": {"values": [0.1, 0.2]}, "model.init_args.depth": {"values": [3]},
                        "trainer.max_epochs": {"value": 2}})
    args = SimpleNamespace(seed=7, workers=3, slurm=None)
    settings = sweep._settings(grid, args, ["fit"], None, [0, 1], 2)
    assert settings["short_names"] == {"model.init_args.lr": "lr"}  # depth takes one value: not shown
    assert (settings["slots"], settings["seeds"], settings["seed"], settings["workers"], settings["job"]) == (2, [0, 1], 7, 3, None)
    assert settings["fixed"] == {"trainer.max_epochs": 2} and list(settings["searched"]) == ["model.init_args.lr", "model.init_args.depth"]
    constant = space.Sweep("c", typed("grid"), [], {"model.init_args.depth": {"values": [3]}})
    assert sweep._settings(constant, args, [], None, None, 1)["short_names"] == {"model.init_args.depth": "depth"}  # nothing varies: all
    drawn = space.Sweep("r", typed("random"), [], {"a.lr": {"distribution": "uniform", "min": 0, "max": 1}, "b.depth": {"values": [3]}}, count=4)
    assert sweep._settings(drawn, args, [], None, None, 4)["short_names"] == {"a.lr": "lr", "b.depth": "depth"}


def test_a_dry_run_of_a_random_search_names_the_ranges(capsys):
    drawn = space.Sweep("r", "random", [], {"a.lr": {"distribution": "uniform", "min": 0, "max": 1}, "a.depth": {"value": 3}}, count=4)
    settings = {"command": ["python", "-m", "lit_dl.cli", "fit", "--config", "x.yaml"], "seeds": [0, 1], "slots": 4}
    sweep._print_dry_run(drawn, settings)
    assert capsys.readouterr().out == ("4 random trials, each drawing a.lr ~ uniform(0, 1)\n"
                                       "  lit-dl fit --config x.yaml --a.depth=3 --KEY=VALUE...  (once for each of --seed_everything=0,1)\n")
