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
