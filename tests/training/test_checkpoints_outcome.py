"""What a finished fit records of its checkpoints (`fit_outcome`), the progress an abort rewinds to, and
the other helpers of lit_dl.training.checkpoints, on stand-in trainers."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_dl.training.checkpoints import (CHECKPOINT_DEFAULTS, RunCheckpoint, _load_progress, fit_outcome, last_checkpoint_path, link_atomically,
                                         place_checkpoints, rewind_to_last_checkpoint, save_last, scalars)


def trainer(callback: RunCheckpoint) -> SimpleNamespace:
    return SimpleNamespace(checkpoint_callback=callback, callback_metrics={"val/loss": torch.tensor(0.5), "train/loss": torch.tensor(0.7)},
                           current_epoch=3, global_step=24)


def test_val_is_the_best_checkpoints_validation_or_the_last_when_it_kept_none():
    callback = RunCheckpoint(monitor="val/loss")
    assert fit_outcome(trainer(callback))["val"] == {"val/loss": 0.5}  # no best validation kept (none had val/loss yet)
    callback.best_metrics = {"val/loss": 0.4}
    outcome = fit_outcome(trainer(callback))
    assert (outcome["val"], outcome["val_last"], outcome["steps"]) == ({"val/loss": 0.4}, {"val/loss": 0.5}, 24)


def test_fit_outcome_names_the_best_checkpoint_its_score_and_monitor():
    callback = RunCheckpoint(monitor="val/acc", mode="max")
    callback.best_model_path, callback.best_model_score = "/runs/x/version_0/checkpoints/best.ckpt", torch.tensor(0.75)
    outcome = fit_outcome(trainer(callback))
    assert (outcome["best_checkpoint"], outcome["best_score"], outcome["monitor"], outcome["epochs"]) == (
        "/runs/x/version_0/checkpoints/best.ckpt", 0.75, "val/acc", 3)
    callback.best_model_path, callback.best_model_score = "", None
    assert (fit_outcome(trainer(callback))["best_checkpoint"], fit_outcome(trainer(callback))["best_score"]) == (None, None)
    nothing = SimpleNamespace(checkpoint_callback=None, callback_metrics={}, current_epoch=0, global_step=0)
    assert fit_outcome(nothing) == {"val": {}, "val_last": {}, "epochs": 0, "steps": 0}


def test_with_no_validation_this_time_the_last_one_saved_is_recorded():
    callback = RunCheckpoint(monitor="val/loss")
    callback.last_metrics = {"val/loss": 0.3}
    stand_in = SimpleNamespace(checkpoint_callback=callback, callback_metrics={"train/loss": torch.tensor(0.7)}, current_epoch=3, global_step=24)
    assert fit_outcome(stand_in)["val_last"] == {"val/loss": 0.3}


def test_scalars_keep_the_one_number_metrics_under_the_prefix():
    metrics = {"val/loss": torch.tensor(0.5), "val/acc": 1, "val/confusion": torch.ones(2, 2), "train/loss": torch.tensor(0.1),
               "test/f1/cat": torch.tensor(0.2), "test/f1_macro": torch.tensor(0.4)}
    assert scalars(metrics, "val/") == {"val/loss": 0.5, "val/acc": 1.0}
    assert scalars(metrics, "test/") == {"test/f1_macro": pytest.approx(0.4)}


def test_the_progress_of_a_saved_checkpoint(tmp_path):
    """How far the checkpoint an abort rewinds to had trained: its epochs processed (validation
    included), else its `epoch` entry, else 0; its global step, else 0."""
    path = tmp_path / "last.ckpt"
    for saved, progress in [({"epoch": 2, "global_step": 30, "loops": {"fit_loop": {"epoch_progress": {"current": {"processed": 3}}}}},
                             {"epochs": 3, "steps": 30}),
                            ({"epoch": 2, "global_step": 30}, {"epochs": 2, "steps": 30}),
                            ({"state_dict": {}}, {"epochs": 0, "steps": 0})]:
        torch.save(saved, path)
        assert _load_progress(str(path)) == progress


def test_rewinding_without_a_last_checkpoint_goes_back_to_the_start(tmp_path):
    callback = RunCheckpoint(dirpath=str(tmp_path / "checkpoints"))
    stand_in = SimpleNamespace(checkpoint_callbacks=[callback], loggers=[])
    assert last_checkpoint_path(stand_in) == str(tmp_path / "checkpoints" / "last.ckpt")
    assert rewind_to_last_checkpoint(stand_in) == {"epochs": 0, "steps": 0}
    assert last_checkpoint_path(SimpleNamespace(checkpoint_callbacks=[RunCheckpoint()])) is None  # no folder yet


def test_save_last_without_a_checkpoint_folder_saves_nothing(tmp_path):
    assert save_last(SimpleNamespace(checkpoint_callbacks=[])) is None
    saved = []
    plain = ModelCheckpoint(dirpath=str(tmp_path))
    stand_in = SimpleNamespace(checkpoint_callbacks=[plain], save_checkpoint=saved.append)
    assert save_last(stand_in) == str(tmp_path / "last.ckpt") and saved == [str(tmp_path / "last.ckpt")]


def test_checkpoints_without_a_folder_get_the_runs_absolute_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    unplaced, placed = RunCheckpoint(), RunCheckpoint(dirpath="/elsewhere")
    place_checkpoints([unplaced, placed, object()], Path("runs/x/version_0"))
    assert unplaced.dirpath == os.path.realpath(tmp_path / "runs/x/version_0/checkpoints") and placed.dirpath == "/elsewhere"


def test_link_atomically_makes_the_target_the_same_file(tmp_path):
    source, target = tmp_path / "best.ckpt", tmp_path / "last.ckpt"
    source.write_text("new")
    target.write_text("old")
    link_atomically(source, target)
    assert target.read_text() == "new" and os.path.samefile(source, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt"]  # no partial file left


def test_run_checkpoint_defaults():
    assert CHECKPOINT_DEFAULTS == {"monitor": "val/loss", "mode": "min", "filename": "best", "save_last": True,
                                   "auto_insert_metric_name": False, "enable_version_counter": False}
    assert RunCheckpoint(dirpath="/r/checkpoints").last_path == "/r/checkpoints/last.ckpt"
