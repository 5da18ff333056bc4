"""The sweep as a W&B sweep file: the agent's command, seeds as a grid axis, what W&B keeps."""

from __future__ import annotations

import os

import yaml

from lit_dl.commands.sweep import space
from lit_dl.commands.sweep.wandb_file import _shown_path, wandb_sweep_file, write_wandb_sweep_file
from tests.helpers.typed import typed, typed_tree


def Sweep(name, method, configs, parameters, **kwargs):  # noqa: N802 - a space.Sweep as read from a sweep file
    return space.Sweep(name, typed(method), configs, typed_tree(parameters), **typed_tree(kwargs))


def experiment(tmp_path, name="exp.yaml", logger=None):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"trainer": {"logger": logger} if logger is not None else {}}))
    return path


def test_the_agent_fits_the_experiment_with_a_wandb_logger_and_the_trials_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = Sweep("lr", "random", [experiment(tmp_path)], {"lr": {"values": [1, 2]}}, count=5,
                  early_terminate={"type": "median"}, extra={"project": "p"})
    spec = wandb_sweep_file(sweep, ["--trainer.max_epochs", "2"], seeds=[0, 1])
    assert spec == {"name": "lr", "method": "random", "metric": {"name": "val/loss", "goal": "minimize"}, "parameters": {"lr": {"values": [1, 2]}},
                    "run_cap": 5, "project": "p",  # seeds are no grid axis of a random search; W&B knows no median pruner
                    "command": ["lit-dl", "fit", "--config", "exp.yaml", "--trainer.logger+=WandbLogger", "--name", "lr",
                                "--trainer.max_epochs", "2", "${args}"]}


def test_a_grids_seeds_are_one_more_axis_and_hyperband_is_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logged = experiment(tmp_path, "logged.yaml", [{"class_path": "lightning.pytorch.loggers.WandbLogger"}])
    sweep = Sweep("g", "grid", [logged], {"lr": {"values": [1]}}, count=3, early_terminate={"type": "hyperband", "min_iter": 2})
    spec = wandb_sweep_file(sweep, [], seeds=[0, 1, 2])
    assert spec["parameters"] == {"lr": {"values": [1]}, "seed_everything": {"values": [0, 1, 2]}}
    assert "run_cap" not in spec and spec["early_terminate"] == {"type": "hyperband", "min_iter": 2}
    assert spec["command"] == ["lit-dl", "fit", "--config", "logged.yaml", "--name", "g", "${args}"]  # its own W&B logger
    assert sweep.parameters == {"lr": {"values": [1]}}  # the sweep itself is left as it was
    given = wandb_sweep_file(Sweep("g", "grid", [experiment(tmp_path)], {}), ["--trainer.logger+=WandbLogger"])
    assert given["command"].count("--trainer.logger+=WandbLogger") == 1


def test_a_single_wandb_logger_counts_and_other_loggers_do_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    single = experiment(tmp_path, "single.yaml", {"class_path": "WandbLogger"})
    other = experiment(tmp_path, "other.yaml", [{"class_path": "lightning.pytorch.loggers.TensorBoardLogger"}, "text"])
    assert "--trainer.logger+=WandbLogger" not in wandb_sweep_file(Sweep("s", "grid", [other, single], {}), [])["command"]
    assert "--trainer.logger+=WandbLogger" in wandb_sweep_file(Sweep("s", "grid", [other], {}), [])["command"]


def test_the_file_says_how_to_start_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_wandb_sweep_file(tmp_path / "deep" / "w.yaml", Sweep("lr", "grid", [experiment(tmp_path)], {"lr": {"values": [1]}}), [])
    text = path.read_text()
    assert text.startswith("# lit-dl sweep lr as a W&B sweep: wandb sweep w.yaml, then wandb agent SWEEP_ID\nname: lr\nmethod: grid\n")
    assert yaml.safe_load(text)["parameters"] == {"lr": {"values": [1]}}


def test_paths_below_the_working_directory_are_relative_others_absolute(tmp_path, monkeypatch):
    (tmp_path / "work" / "exp").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    assert _shown_path(tmp_path / "work" / "exp" / "a.yaml") == "exp/a.yaml"
    assert _shown_path(tmp_path / "b.yaml") == (tmp_path / "b.yaml").resolve().as_posix()
    assert os.path.isabs(_shown_path(tmp_path / "b.yaml"))
