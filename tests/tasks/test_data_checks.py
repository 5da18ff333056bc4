"""A classifier's loss against the classes the data links in."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lit_dl.errors import UserError
from lit_dl.tasks.data_checks import check_classification_loss


def test_class_weights_must_number_the_classes():
    check_classification_loss(nn.CrossEntropyLoss(weight=torch.ones(3)), 3)
    with pytest.raises(UserError, match="3"):
        check_classification_loss(nn.CrossEntropyLoss(weight=torch.ones(2)), 3)


def test_one_logit_or_an_unlinked_class_count_checks_no_weights():
    """num_classes 1 (one logit) or 0 (nothing linked): there is no class count to hold weights to."""
    for num_classes in (0, 1):
        check_classification_loss(nn.BCEWithLogitsLoss(weight=torch.ones(8)), num_classes)
