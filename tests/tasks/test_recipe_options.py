"""The task options the speed recipes use: the cheap accuracy, the fused optimizer, flip
test-time augmentation and channels-last."""

from __future__ import annotations

import pytest
import torch

from lit_dl.nets import MLP, SimpleCNN
from lit_dl.tasks import Classifier
from lit_dl.tasks.classifier import Accuracy


def test_accuracy_matches_torchmetrics():
    from torchmetrics.classification import MulticlassAccuracy

    predicted, target = torch.randint(0, 5, (300,)), torch.randint(0, 5, (300,))
    ours, theirs = Accuracy(), MulticlassAccuracy(5, average="micro")
    for chunk in range(3):
        part = slice(100 * chunk, 100 * (chunk + 1))
        ours.update(predicted[part], target[part])
        theirs.update(predicted[part], target[part])
    assert torch.isclose(ours.compute(), theirs.compute())
    # What it declares to torchmetrics' users (a MetricTracker picking the best, say) is what torchmetrics' own one declares.
    for declared in ("is_differentiable", "higher_is_better", "full_state_update"):
        assert getattr(ours, declared) is getattr(theirs, declared), declared


def test_optimizer_is_fused_unless_the_config_chooses():
    net = MLP((4,), 2)
    assert Classifier(net, num_outputs=2).build_optimizer().param_groups[0]["fused"] is True
    chosen = Classifier(net, num_outputs=2, optimizer=lambda p: torch.optim.SGD(p, lr=0.1, foreach=False))
    group = chosen.build_optimizer().param_groups[0]
    assert group["foreach"] is False and not group.get("fused")
    rmsprop = Classifier(net, num_outputs=2, optimizer=torch.optim.RMSprop).build_optimizer()
    assert rmsprop.param_groups[0]["foreach"] is True  # no fused RMSprop: the multi-tensor one


def test_flip_tta_averages_the_image_and_its_mirror():
    torch.manual_seed(0)
    net = SimpleCNN((3, 8, 8), 4, channels=[4], hidden_dim=8, dropout=0.0).eval()
    task = Classifier(net, num_outputs=4, tta_flip=True, channels_last=True).eval()
    images = torch.randn(2, 3, 8, 8)
    expected = (net(images) + net(images.flip(-1))) / 2
    assert torch.allclose(task.logits((images,), "test"), expected, atol=1e-6)
    assert torch.allclose(task.logits((images,), "train"), net(images), atol=1e-6)
    assert task.net.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    (converted,), _ = task._split((images, torch.zeros(2)))
    assert converted.is_contiguous(memory_format=torch.channels_last)


def test_flip_tta_on_non_images_is_a_user_error():
    from lit_dl.errors import UserError

    task = Classifier(MLP((6,), 2), num_outputs=2, tta_flip=True)
    with pytest.raises(UserError, match="tta_flip"):
        task.logits((torch.randn(3, 6),), "val")
    # Inputs of more dimensions than images (video clips, volumes) are not images either; this net takes them.
    clips = Classifier(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 4 * 4, 2)), num_outputs=2, tta_flip=True)
    for stage in ("val", "test"):
        with pytest.raises(UserError, match=r"tta_flip.*shape \[3, 2, 3, 4, 4\]"):
            clips.logits((torch.randn(3, 2, 3, 4, 4),), stage)
