"""The classifier takes class probabilities as targets (MixUp/CutMix batches)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lit_dl.errors import UserError
from lit_dl.losses import FocalLoss
from lit_dl.tasks import Classifier


class FixedLogits(nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_soft_targets_give_cross_entropy_with_probabilities_and_accuracy_by_argmax():
    torch.manual_seed(0)
    logits = torch.randn(4, 3)
    targets = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6], [0.5, 0.0, 0.5], [0.1, 0.9, 0.0]])
    task = Classifier(FixedLogits(logits), num_outputs=3, loss=nn.CrossEntropyLoss(label_smoothing=0.1))
    loss = task.shared_step((torch.zeros(4, 1), targets), "train")
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets, label_smoothing=0.1))
    expected = (logits.argmax(1) == targets.argmax(1)).float().mean()
    torch.testing.assert_close(task.accuracy["train_acc"].compute(), expected)


def test_default_loss_takes_soft_targets_too():
    logits = torch.randn(2, 3)
    targets = torch.tensor([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]])
    task = Classifier(FixedLogits(logits), num_outputs=3)
    torch.testing.assert_close(task.shared_step((torch.zeros(2, 1), targets), "val"), F.cross_entropy(logits, targets))


def test_soft_targets_with_a_loss_for_class_indices_is_a_user_error():
    task = Classifier(FixedLogits(torch.randn(2, 3)), num_outputs=3, loss=FocalLoss())
    with pytest.raises(UserError, match=r"class probabilities .* but FocalLoss .*torch.nn.CrossEntropyLoss"):
        task.shared_step((torch.zeros(2, 1), torch.full((2, 3), 1 / 3)), "train")
