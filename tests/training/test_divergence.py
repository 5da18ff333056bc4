"""StopOnNonFiniteLoss's decisions on stand-in trainers (tests/training/test_faults.py diverges real fits)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_dl.errors import TrainingDiverged
from lit_dl.training.divergence import StopOnNonFiniteLoss, _all_finite

ADVICE = "lower the learning rate, clip gradients (--trainer.gradient_clip_val 1.0) or check the data for NaNs"


def trainer(step: int, world_size: int = 1, log_every: int = 4, last_batch: bool = False, epoch: int = 0, checkpoints=()) -> SimpleNamespace:
    reduced = []
    strategy = SimpleNamespace(reduce=lambda value, reduce_op: reduced.append(reduce_op) or value, reduced=reduced)
    progress = SimpleNamespace(is_last_batch=last_batch)
    return SimpleNamespace(global_step=step, world_size=world_size, log_every_n_steps=log_every, current_epoch=epoch, strategy=strategy,
                           checkpoint_callbacks=list(checkpoints), fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_one_process_on_the_cpu_stops_at_the_very_step_the_loss_is_not_finite(bad):
    callback = StopOnNonFiniteLoss()
    callback.on_train_batch_end(trainer(5), None, torch.tensor(0.3), None, 0)
    callback.on_train_batch_end(trainer(6), None, {"loss": torch.tensor(1e30)}, None, 0)
    callback.on_train_batch_end(trainer(7), None, None, None, 0)  # no loss (a skipped step): nothing to check
    with pytest.raises(TrainingDiverged) as raised:
        callback.on_train_batch_end(trainer(7, epoch=1), None, {"loss": torch.tensor(bad)}, None, 0)
    assert str(raised.value) == (f"the training loss became NaN or infinite at step 7 (epoch 2); training stopped and no checkpoint "
                                 f"was saved before it; {ADVICE}")
    with pytest.raises(TrainingDiverged):  # a loss of several values: any one of them
        callback.on_train_batch_end(trainer(8), None, torch.tensor([0.1, bad]), None, 0)


def test_several_ranks_look_at_the_first_bad_step_only_at_the_steps_they_check_together():
    """Under DDP the first bad step is kept on the device and reduced (min) at every
    log_every_n_steps step and at an epoch's last batch."""
    callback = StopOnNonFiniteLoss()
    callback.on_train_batch_end(trainer(1, world_size=2), None, torch.tensor(0.5), None, 0)
    callback.on_train_batch_end(trainer(2, world_size=2), None, torch.tensor(math.nan), None, 0)  # not a checking step
    callback.on_train_batch_end(trainer(3, world_size=2), None, torch.tensor(math.nan), None, 0)
    checking = trainer(4, world_size=2)
    with pytest.raises(TrainingDiverged, match=r"at step 2 \(epoch 1\)"):  # the first bad step, not the one it was noticed at
        callback.on_train_batch_end(checking, None, torch.tensor(0.5), None, 0)
    assert checking.strategy.reduced == ["min"]


def test_under_ddp_the_check_waits_for_a_checking_step_or_the_epochs_end():
    callback = StopOnNonFiniteLoss(check_every_n_steps=3)
    quiet = trainer(1, world_size=2, log_every=1)
    callback.on_train_batch_end(quiet, None, torch.tensor(math.nan), None, 0)  # 1 % 3: no check, though the trainer logs every step
    assert quiet.strategy.reduced == []
    with pytest.raises(TrainingDiverged, match="at step 1 "):
        callback.on_train_batch_end(trainer(2, world_size=2, last_batch=True), None, torch.tensor(0.1), None, 0)
    healthy = StopOnNonFiniteLoss()
    for step in range(1, 9):
        stand_in = trainer(step, world_size=2)
        healthy.on_train_batch_end(stand_in, None, torch.tensor(0.1), None, 0)
        assert stand_in.strategy.reduced == (["min"] if step % 4 == 0 else [])


def test_a_checkpoint_with_weights_that_are_not_finite_is_never_written(tmp_path):
    good = tmp_path / "last.ckpt"
    good.write_bytes(b"x")
    checkpoint = ModelCheckpoint(dirpath=str(tmp_path))
    checkpoint.last_model_path = str(good)
    callback = StopOnNonFiniteLoss()
    callback.on_save_checkpoint(trainer(9), None, {"state_dict": {"w": torch.ones(2), "steps": torch.tensor([3])}})
    callback.on_save_checkpoint(trainer(9), None, {})
    with pytest.raises(TrainingDiverged) as raised:
        callback.on_save_checkpoint(trainer(9, checkpoints=[checkpoint]), None, {"state_dict": {"w": torch.tensor([1.0, math.inf])}})
    assert str(raised.value) == (f"the weights became NaN or infinite at step 9 (epoch 1); training stopped and the last good checkpoint is "
                                 f"kept: {good}; {ADVICE}")
    callback.on_train_batch_end(trainer(3, world_size=2), None, torch.tensor(math.nan), None, 0)  # bad at 3, not checked yet
    with pytest.raises(TrainingDiverged, match="the weights became NaN or infinite at step 3 "):
        callback.on_save_checkpoint(trainer(9), None, {"state_dict": {"w": torch.tensor([math.nan])}})


def test_the_last_good_checkpoint_is_the_last_saved_else_the_best_that_exists(tmp_path):
    best = tmp_path / "best.ckpt"
    best.write_bytes(b"x")
    checkpoint = ModelCheckpoint(dirpath=str(tmp_path))
    checkpoint.last_model_path, checkpoint.best_model_path = str(tmp_path / "gone.ckpt"), str(best)
    message = StopOnNonFiniteLoss()._message(trainer(4, checkpoints=[object(), checkpoint]), 4)
    assert f"the last good checkpoint is kept: {best};" in message


def test_all_finite_looks_at_floating_point_weights_only():
    assert _all_finite({}) and _all_finite({"count": torch.tensor([2**62]), "note": "text"})
    assert _all_finite({"w": torch.tensor([1e38]), "h": torch.tensor([1.0], dtype=torch.float16)})
    assert not _all_finite({"w": torch.tensor([0.0]), "b": torch.tensor([math.nan], dtype=torch.float64)})
    assert not _all_finite({"w": torch.tensor([-math.inf])})
