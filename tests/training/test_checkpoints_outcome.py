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


def test_link_atomically_copies_where_the_filesystem_has_no_hard_links(tmp_path, monkeypatch):
    from lit_dl.training import checkpoints

    def no_hard_links(source, target):  # faked: a filesystem without hard links (FAT, some network mounts) is not at hand
        raise OSError(1, "Operation not permitted")

    source, target = tmp_path / "best.ckpt", tmp_path / "last.ckpt"
    source.write_text("new")
    target.write_text("old")
    monkeypatch.setattr(checkpoints.os, "link", no_hard_links)
    link_atomically(source, target)
    monkeypatch.undo()
    assert target.read_text() == "new" and not os.path.samefile(source, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_the_saved_files_are_the_best_and_top_k_ones_still_on_disk(tmp_path):
    """Each with its identity, to tell the files a validation (re)wrote; one the top-k dropped meanwhile has none."""
    kept, dropped = tmp_path / "epoch=3.ckpt", tmp_path / "epoch=1.ckpt"
    kept.write_text("x")
    checkpoint = RunCheckpoint(dirpath=str(tmp_path))
    checkpoint.best_model_path, checkpoint.best_k_models = str(kept), {str(kept): 0.1, str(dropped): 0.2}
    assert checkpoint._saved_files() == {str(kept): (kept.stat().st_ino, kept.stat().st_mtime_ns)}


def test_run_checkpoint_defaults():
    assert CHECKPOINT_DEFAULTS == {"monitor": "val/loss", "mode": "min", "filename": "best", "save_last": True,
                                   "auto_insert_metric_name": False, "enable_version_counter": False}
    assert RunCheckpoint(dirpath="/r/checkpoints").last_path == "/r/checkpoints/last.ckpt"


def fitting(step: int, tmp_path, atomic: bool = True, zero: bool = True) -> SimpleNamespace:
    from lightning.pytorch.trainer.states import TrainerFn

    from lit_dl.training.checkpoint_io import AtomicCheckpointIO

    saved, barriers = [], []
    strategy = SimpleNamespace(checkpoint_io=AtomicCheckpointIO() if atomic else object(), barrier=barriers.append)
    return SimpleNamespace(state=SimpleNamespace(fn=TrainerFn.FITTING), sanity_checking=False, fast_dev_run=False, global_step=step,
                           is_global_zero=zero, strategy=strategy, saved=saved, barriers=barriers,
                           save_checkpoint=lambda path, weights_only=False: (saved.append(path), Path(path).write_text(f"step {step}")))


def test_last_ckpt_is_written_once_a_step_and_only_when_kept_or_asked_for(tmp_path):
    callback = RunCheckpoint(dirpath=str(tmp_path))
    stand_in = fitting(5, tmp_path)
    callback.write_last(stand_in)
    assert stand_in.saved == []  # save_last off (the setup turns Lightning's own off and keeps it here)
    callback.write_last(stand_in, always=True)
    callback.write_last(stand_in, always=True)  # the same step: once
    assert stand_in.saved == [str(tmp_path / "last.ckpt")] and callback.last_model_path == str(tmp_path / "last.ckpt")
    callback._keeps_last = True
    later = fitting(6, tmp_path)
    callback.write_last(later)
    assert later.saved == [str(tmp_path / "last.ckpt")]
    sanity = fitting(7, tmp_path)
    sanity.sanity_checking = True
    callback.write_last(sanity)
    assert sanity.saved == []
    late = fitting(int("1000"), tmp_path)  # a long fit's step: past CPython's cached small ints, each count a new object
    callback.write_last(late)
    late.global_step = int("1000")
    callback.write_last(late)
    assert late.saved == [str(tmp_path / "last.ckpt")]


def test_a_new_best_becomes_last_ckpt_by_a_link_on_rank_zero_with_every_rank_at_the_barrier(tmp_path):
    best = tmp_path / "best.ckpt"
    best.write_text("the best")
    callback = RunCheckpoint(dirpath=str(tmp_path))
    callback._keeps_last = True
    stand_in = fitting(8, tmp_path)
    callback.write_last(stand_in, same_as=str(best))
    assert stand_in.saved == [] and stand_in.barriers == ["last.ckpt"] and os.path.samefile(best, tmp_path / "last.ckpt")
    other_rank = fitting(9, tmp_path, zero=False)
    (tmp_path / "last.ckpt").unlink()
    callback.write_last(other_rank, same_as=str(best))
    assert not (tmp_path / "last.ckpt").exists() and other_rank.barriers == ["last.ckpt"]
    plain_io = fitting(10, tmp_path, atomic=False)
    callback.write_last(plain_io, same_as=str(best))  # a plugin that may write later into the file: written again
    assert plain_io.saved == [str(tmp_path / "last.ckpt")]


def test_the_best_and_last_validations_travel_in_the_checkpoint():
    callback = RunCheckpoint(monitor="val/loss")
    callback.best_metrics, callback.last_metrics = {"val/loss": 0.4}, {"val/loss": 0.5}
    state = callback.state_dict()
    assert (state["best_metrics"], state["last_metrics"]) == ({"val/loss": 0.4}, {"val/loss": 0.5})
    callback._candidate = (callback.best_model_score, {"val/loss": 0.3})
    assert callback.state_dict()["best_metrics"] == {"val/loss": 0.4}  # no new best while saving
    callback.best_model_score = torch.tensor(0.3)
    assert callback.state_dict()["best_metrics"] == {"val/loss": 0.3}  # a new best being written holds its own validation
    resumed = RunCheckpoint(monitor="val/loss")
    resumed.load_state_dict(state)
    assert (resumed.best_metrics, resumed.last_metrics) == ({"val/loss": 0.4}, {"val/loss": 0.5})
    resumed.load_state_dict({**state, "best_metrics": None, "last_metrics": None})
    assert (resumed.best_metrics, resumed.last_metrics) == ({}, {})
