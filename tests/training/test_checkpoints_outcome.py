"""What a finished fit records of its checkpoints (`fit_outcome`), on a stand-in trainer."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from lit_dl.training.checkpoints import RunCheckpoint, fit_outcome


def trainer(callback: RunCheckpoint) -> SimpleNamespace:
    return SimpleNamespace(checkpoint_callback=callback, callback_metrics={"val/loss": torch.tensor(0.5), "train/loss": torch.tensor(0.7)},
                           current_epoch=3, global_step=24)


def test_val_is_the_best_checkpoints_validation_or_the_last_when_it_kept_none():
    callback = RunCheckpoint(monitor="val/loss")
    assert fit_outcome(trainer(callback))["val"] == {"val/loss": 0.5}  # no best validation kept (none had val/loss yet)
    callback.best_metrics = {"val/loss": 0.4}
    outcome = fit_outcome(trainer(callback))
    assert (outcome["val"], outcome["val_last"], outcome["steps"]) == ({"val/loss": 0.4}, {"val/loss": 0.5}, 24)
