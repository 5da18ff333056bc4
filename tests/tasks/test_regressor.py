"""The regressor's target scale: predictions mapped back to the targets' own units."""

from __future__ import annotations

import torch
from torch import nn

from lit_dl.tasks import Regressor


def test_a_scale_per_output_or_one_for_all_outputs():
    task = Regressor(nn.Linear(4, 3), num_outputs=3)
    task.set_target_scale(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[10.0, 20.0, 30.0]]))  # per output, as the data keeps them
    assert task.target_mean.tolist() == [1.0, 2.0, 3.0] and task.target_std.tolist() == [10.0, 20.0, 30.0]
    assert task.to_target_units(torch.ones(2, 3)).tolist() == [[11.0, 22.0, 33.0]] * 2
    task.set_target_scale(torch.tensor(5.0), torch.tensor(2.0))  # one for all
    assert task.target_mean.tolist() == [5.0] * 3 and task.target_std.tolist() == [2.0] * 3


def test_validation_logs_loss_on_the_training_scale_and_errors_in_the_targets_units():
    task = Regressor(nn.Linear(1, 1, bias=False), num_outputs=1)
    with torch.no_grad():
        task.net.weight.fill_(1.0)
    task.set_target_scale(torch.tensor([10.0]), torch.tensor([2.0]))
    logged = {}
    task.log = lambda name, value, **options: logged.__setitem__(name, (value, options))
    inputs, targets = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [2.0]])  # scaled: errors 1 and 1
    loss = task.shared_step((inputs, targets), "val")
    assert loss.item() == 1.0 and logged["val/loss"][0].item() == 1.0
    assert task.errors["val_mse"].compute().item() == 4.0 and task.errors["val_mae"].compute().item() == 2.0  # std 2: errors of 2
    assert logged["val/loss"][1]["on_epoch"] and not logged["val/loss"][1]["on_step"]
    assert logged["val/mse"][0] is task.errors["val_mse"] and "val/mae" in logged
    assert task.predict_step((inputs, targets), 0).tolist() == [[12.0], [16.0]]
    training = {}
    task.log = lambda name, value, **options: training.__setitem__(name, value)
    task.shared_step((inputs, targets), "train")
    assert set(training) == {"train/loss"}  # no error metrics in training


def test_the_regressor_logs_and_its_default_loss():
    task = Regressor(nn.Linear(2, 2), num_outputs=2)
    assert isinstance(task.loss_fn, nn.MSELoss) and task.target_mean.tolist() == [0.0, 0.0] and task.target_std.tolist() == [1.0, 1.0]
    assert task.metric_names()[-4:] == ["val/mse", "val/mae", "test/mse", "test/mae"]


def test_a_scale_for_another_number_of_outputs_is_a_user_error():
    import pytest

    from lit_dl.errors import UserError

    task = Regressor(nn.Linear(4, 3), num_outputs=3)
    with pytest.raises(UserError) as raised:
        task.set_target_scale(torch.zeros(2), torch.ones(2))
    assert str(raised.value) == "the data scales 2 target outputs but the model predicts 3; check num_outputs"


def test_setup_takes_the_datas_target_scale_or_none(monkeypatch):
    from types import SimpleNamespace

    task = Regressor(nn.Linear(4, 2), num_outputs=2)
    task._trainer = SimpleNamespace(datamodule=SimpleNamespace(task="regression", target_mean=torch.tensor([1.0, 2.0]), target_std=torch.tensor([3.0, 4.0])))
    task.setup("fit")
    assert task.target_mean.tolist() == [1.0, 2.0] and task.target_std.tolist() == [3.0, 4.0]
    task._trainer = SimpleNamespace(datamodule=SimpleNamespace(task="regression", target_mean=None, target_std=None))  # raw targets
    task.setup("fit")
    assert task.target_mean.tolist() == [0.0, 0.0] and task.target_std.tolist() == [1.0, 1.0]
    task.set_target_scale(torch.tensor(5.0), torch.tensor(6.0))
    task._trainer = SimpleNamespace(datamodule=SimpleNamespace())  # says nothing: the scale stays
    task.setup("fit")
    assert task.target_mean.tolist() == [5.0, 5.0]
