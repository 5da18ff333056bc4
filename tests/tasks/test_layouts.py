"""The task's device and memory-layout shortcuts change nothing a run sees."""

from __future__ import annotations

import torch

from lit_dl.nets import MLP
from lit_dl.tasks import Classifier


def test_batches_already_on_the_device_are_passed_through_unchanged():
    task = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3)
    batch = (torch.randn(2, 4), torch.tensor([0, 1]))
    assert task.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    nested = {"x": torch.randn(2, 4)}
    assert torch.equal(task.transfer_batch_to_device(nested, torch.device("cpu"), 0)["x"], nested["x"])


def test_channels_last_is_the_default_for_nets_with_convolutions():
    from lit_dl.nets import SimpleCNN

    cnn = Classifier(SimpleCNN((3, 8, 8), 4, channels=[4, 8], hidden_dim=8), num_outputs=4)
    assert cnn.channels_last
    assert cnn.net.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.randn(2, 3, 8, 8)
    inputs, _ = cnn._split((images, torch.tensor([0, 1])))
    assert inputs[0].is_contiguous(memory_format=torch.channels_last)
    assert not Classifier(MLP((4,), 3), num_outputs=3).channels_last
    assert not Classifier(SimpleCNN((3, 8, 8), 4, channels=[4, 8], hidden_dim=8), num_outputs=4, channels_last=False).channels_last


def test_checkpoints_hold_each_weight_once_and_compiled_loads_into_uncompiled():
    compiled = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3, compile=True)
    plain = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3)
    weights = [k for k in compiled.state_dict() if not k.startswith("accuracy.")]
    assert weights and all(k.startswith("net.") and "_orig_mod" not in k for k in weights)
    assert sorted(compiled.state_dict()) == sorted(plain.state_dict())
    plain.load_state_dict(compiled.state_dict())
    compiled.load_state_dict(plain.state_dict())
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in plain.net.parameters())


def test_only_four_dimensional_floating_point_tensors_change_layout():
    import torch

    from lit_dl.tasks.base import to_channels_last

    images, labels, masks, table = torch.randn(2, 3, 4, 4), torch.tensor([1, 0]), torch.zeros(2, 3, 4, 4, dtype=torch.long), torch.randn(2, 5)
    assert to_channels_last(images).is_contiguous(memory_format=torch.channels_last)
    assert to_channels_last(labels) is labels and to_channels_last(masks) is masks and to_channels_last(table) is table
    assert to_channels_last("text") == "text"
