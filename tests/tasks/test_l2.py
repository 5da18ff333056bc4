"""The explicit L2 penalty (`l2` on every task): l2 x the sum of squared weights, added to the
training loss; for plain SGD the same steps as torch's weight_decay = 2 x l2, unlike AdamW's."""

from __future__ import annotations

import copy

import pytest
import torch

from lit_dl.errors import UserError
from lit_dl.nets import MLP
from lit_dl.tasks import Classifier


def batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(32, 6, generator=generator), torch.randint(0, 3, (32,), generator=generator)


def train(task: Classifier, optimizer: torch.optim.Optimizer, steps: int = 5) -> None:
    for step in range(steps):
        optimizer.zero_grad()
        task.training_step(batch(step), step).backward()
        optimizer.step()


def twins(**task_args):
    torch.manual_seed(0)
    net = MLP([6], 3, hidden_dims=(16,))
    return Classifier(copy.deepcopy(net), num_outputs=3, **task_args), Classifier(net, num_outputs=3)


def test_penalty_is_l2_times_the_sum_of_squared_weights():
    task, _ = twins(l2=0.01)
    expected = 0.01 * sum(float((p**2).sum()) for p in task.net.parameters())
    assert float(task.l2_penalty()) == pytest.approx(expected, rel=1e-6)
    data_loss = task.shared_step(batch(), "train")
    assert float(task.training_step(batch(), 0)) == pytest.approx(float(data_loss) + expected, rel=1e-6)


def test_for_sgd_it_equals_weight_decay_of_twice_l2():
    penalised, decayed = twins(l2=0.005)
    train(penalised, torch.optim.SGD(penalised.parameters(), lr=0.1, momentum=0.9))
    train(decayed, torch.optim.SGD(decayed.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01))
    for a, b in zip(penalised.parameters(), decayed.parameters()):
        torch.testing.assert_close(a, b)


def test_for_adam_it_differs_from_decoupled_decay():
    penalised, decayed = twins(l2=0.05)
    train(penalised, torch.optim.Adam(penalised.parameters(), lr=0.01))
    train(decayed, torch.optim.AdamW(decayed.parameters(), lr=0.01, weight_decay=0.1))
    assert any(not torch.allclose(a, b) for a, b in zip(penalised.parameters(), decayed.parameters()))


def test_negative_l2_is_a_user_error():
    with pytest.raises(UserError, match="l2 must be >= 0"):
        twins(l2=-1.0)


def test_l2_from_the_command_line(fit_quickstart):
    run_dir = fit_quickstart("--model.init_args.l2", "1e-4", "--trainer.max_epochs", "1")
    assert "l2: 0.0001" in (run_dir / "config.yaml").read_text()
