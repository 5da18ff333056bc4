"""Each loss on a small example worked out by hand, and torch's losses configured from YAML."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from lit_dl.errors import UserError
from lit_dl.losses import FocalLoss, WeightedMSEMAELoss, loss_inputs

# Softmax of [0, ln 3] is [1/4, 3/4].
LOGITS = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
TARGET = torch.tensor([1, 0])


def test_focal_loss_multiclass_by_hand():
    # p_t = 3/4 for the first sample, 1/4 for the second; loss = (1 - p_t)^2 * -ln p_t
    first = (1 / 4) ** 2 * -math.log(3 / 4)
    second = (3 / 4) ** 2 * -math.log(1 / 4)
    assert FocalLoss(gamma=2.0)(LOGITS, TARGET).item() == pytest.approx((first + second) / 2)
    assert FocalLoss(gamma=2.0, reduction="sum")(LOGITS, TARGET).item() == pytest.approx(first + second)
    per_sample = FocalLoss(gamma=2.0, alpha=[0.2, 0.8], reduction="none")(LOGITS, TARGET)
    torch.testing.assert_close(per_sample, torch.tensor([0.8 * first, 0.2 * second]))
    assert FocalLoss(gamma=2.0, alpha=0.5)(LOGITS, TARGET).item() == pytest.approx((first + second) / 4)


def test_focal_loss_binary_by_hand():
    # A logit of 0 gives p = 1/2 either way: loss = (1/2)^2 * ln 2, weighted alpha for 1s, 1 - alpha for 0s.
    logits = torch.zeros(2, 1)
    target = torch.tensor([1, 0])
    base = 0.25 * math.log(2)
    per_sample = FocalLoss(gamma=2.0, alpha=0.25, reduction="none")(logits, target)
    torch.testing.assert_close(per_sample, torch.tensor([0.25 * base, 0.75 * base]))
    per_sample = FocalLoss(gamma=2.0, alpha=[0.1, 0.9], reduction="none")(logits.view(-1), target.float())
    torch.testing.assert_close(per_sample, torch.tensor([0.9 * base, 0.1 * base]))


def test_focal_loss_without_focusing_is_cross_entropy():
    logits = torch.randn(6, 4)
    target = torch.randint(0, 4, (6,))
    torch.testing.assert_close(FocalLoss(gamma=0.0)(logits, target), nn.functional.cross_entropy(logits, target))
    binary = torch.randn(6)
    labels = torch.randint(0, 2, (6,)).float()
    torch.testing.assert_close(
        FocalLoss(gamma=0.0)(binary, labels), nn.functional.binary_cross_entropy_with_logits(binary, labels)
    )


def test_focal_loss_rejects_bad_values():
    with pytest.raises(UserError, match="gamma"):
        FocalLoss(gamma=-1.0)
    with pytest.raises(UserError, match="reduction"):
        FocalLoss(reduction="max")


def test_weighted_mse_mae_by_hand():
    prediction = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([1.0, 0.0, 6.0])
    # errors 0, 2, -3: MSE = 13/3, MAE = 5/3
    assert WeightedMSEMAELoss()(prediction, target).item() == pytest.approx(13 / 3 + 0.1 * 5 / 3)
    assert WeightedMSEMAELoss(mse_weight=0.0, mae_weight=1.0)(prediction, target).item() == pytest.approx(5 / 3)
    with pytest.raises(UserError, match="weights"):
        WeightedMSEMAELoss(mse_weight=-1.0)


def parse_loss(config: dict) -> nn.Module:
    jsonargparse = pytest.importorskip("jsonargparse")
    import lit_dl.losses  # noqa: F401  (teaches jsonargparse to read tensors)

    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--loss", type=nn.Module)
    return parser.instantiate(parser.parse_object({"loss": config})).loss


def test_cross_entropy_with_class_weights_and_label_smoothing_from_yaml():
    loss = parse_loss(
        {"class_path": "torch.nn.CrossEntropyLoss", "init_args": {"weight": [1.0, 3.0], "label_smoothing": 0.0}}
    )
    assert isinstance(loss, nn.CrossEntropyLoss)
    # weighted mean: (3 * -ln 3/4 + 1 * -ln 1/4) / (3 + 1)
    expected = (3 * -math.log(3 / 4) + 1 * -math.log(1 / 4)) / 4
    assert loss(LOGITS, TARGET).item() == pytest.approx(expected)

    smoothed = parse_loss({"class_path": "torch.nn.CrossEntropyLoss", "init_args": {"label_smoothing": 0.2}})
    # target distribution 0.9 on the true class, 0.1 on the other
    first = -(0.9 * math.log(3 / 4) + 0.1 * math.log(1 / 4))
    second = -(0.9 * math.log(1 / 4) + 0.1 * math.log(3 / 4))
    assert smoothed(LOGITS, TARGET).item() == pytest.approx((first + second) / 2)


def test_bce_with_logits_pos_weight_from_yaml():
    loss = parse_loss({"class_path": "torch.nn.BCEWithLogitsLoss", "init_args": {"pos_weight": [3.0]}})
    # logit 0: -ln 1/2 each; the positive sample counts 3 times
    value = loss(torch.zeros(2), torch.tensor([1.0, 0.0])).item()
    assert value == pytest.approx((3 + 1) * math.log(2) / 2)


@pytest.mark.parametrize(
    "class_path",
    [
        "torch.nn.CrossEntropyLoss",
        "torch.nn.BCEWithLogitsLoss",
        "torch.nn.NLLLoss",
        "torch.nn.MSELoss",
        "torch.nn.L1Loss",
        "torch.nn.SmoothL1Loss",
        "lit_dl.losses.FocalLoss",
        "lit_dl.losses.WeightedMSEMAELoss",
    ],
)
def test_every_loss_is_picked_by_class_path(class_path):
    loss = parse_loss({"class_path": class_path})
    assert f"{type(loss).__module__}.{type(loss).__name__}".endswith(class_path.rsplit(".", 1)[1])


def test_loss_inputs_adapts_logits_and_targets():
    logits = torch.randn(4, 3)
    target = torch.tensor([0, 2, 1, 2])
    torch.testing.assert_close(
        nn.NLLLoss()(*loss_inputs(nn.NLLLoss(), logits, target)), nn.CrossEntropyLoss()(logits, target)
    )

    two_columns, labels = torch.randn(4, 2), torch.tensor([0, 1, 1, 0])
    output, bce_target = loss_inputs(nn.BCEWithLogitsLoss(), two_columns, labels)
    assert bce_target.dtype == torch.float32 and bce_target.tolist() == [[1, 0], [0, 1], [0, 1], [1, 0]]

    single = torch.randn(4, 1)
    assert loss_inputs(nn.BCEWithLogitsLoss(), single, labels)[1].shape == (4, 1)
    with pytest.raises(UserError, match="BCEWithLogitsLoss"):
        loss_inputs(nn.CrossEntropyLoss(), single, labels)

    flat = torch.randn(4)
    assert loss_inputs(nn.MSELoss(), flat, torch.randn(4, 1))[1].shape == (4,)
