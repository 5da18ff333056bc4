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


def test_the_models_task_must_be_the_datas():
    from types import SimpleNamespace

    from lit_dl.tasks.data_checks import check_task, data_task_of

    check_task("classification", None)
    check_task("regression", "regression")
    with pytest.raises(UserError) as raised:
        check_task("classification", "regression")
    assert str(raised.value) == ("the data holds continuous targets (regression) but the model is lit_dl.tasks.Classifier; set model.class_path "
                                 "to lit_dl.tasks.Supervised (it follows the data) or lit_dl.tasks.Regressor")
    with pytest.raises(UserError) as raised:
        check_task("regression", "classification")
    assert "the data holds class labels (classification) but the model is lit_dl.tasks.Regressor" in str(raised.value)
    with pytest.raises(UserError) as raised:
        check_task("regression", "ranking")
    assert str(raised.value) == "unknown task 'ranking'; choose classification or regression"
    assert data_task_of(SimpleNamespace(datamodule=SimpleNamespace(task="regression"))) == "regression"
    assert data_task_of(SimpleNamespace(datamodule=None)) is None and data_task_of(None) is None


def test_losses_of_the_other_task_are_refused():
    from lit_dl.losses import FocalLoss
    from lit_dl.tasks.data_checks import check_regression_loss

    with pytest.raises(UserError) as raised:
        check_classification_loss(nn.MSELoss(), 3)
    assert str(raised.value) == ("MSELoss is a regression loss but the model is lit_dl.tasks.Classifier; leave loss out (cross-entropy) or use "
                                 "lit_dl.tasks.Regressor for continuous targets")
    for loss in (nn.CrossEntropyLoss(), nn.NLLLoss(), nn.BCEWithLogitsLoss(), nn.BCELoss(), FocalLoss()):
        with pytest.raises(UserError, match=f"^{type(loss).__name__} is a classification loss but the model is lit_dl.tasks.Regressor; "):
            check_regression_loss(loss)
    check_regression_loss(nn.L1Loss())
    check_classification_loss(None, 3)


def test_focal_alpha_and_per_class_weights_are_counted_but_a_scalar_is_not():
    from lit_dl.losses import FocalLoss

    with pytest.raises(UserError) as raised:
        check_classification_loss(FocalLoss(alpha=[0.2, 0.8]), 3)
    assert str(raised.value) == "the loss's alpha has 2 entries but the data has 3 classes; give one weight per class"
    check_classification_loss(nn.CrossEntropyLoss(weight=torch.ones(2)), 2)
    check_classification_loss(nn.BCEWithLogitsLoss(pos_weight=torch.tensor(2.0)), 2)
    check_classification_loss(FocalLoss(alpha=0.25), 3)  # one number weighs every class alike
    check_classification_loss(nn.CrossEntropyLoss(weight=torch.ones(2, 2)), 3)  # not one entry a class: left to torch


def test_a_task_read_from_a_file_matches_the_models():
    from lit_dl.tasks.data_checks import check_task

    check_task("classification", "".join(["classi", "fication"]))  # equal, not the literal's object: no error
