"""TensorBatchLoader: block-gathered batches equal plain indexing, and resume mid-block."""

from __future__ import annotations

import torch

from lit_dl.data import TensorBatchLoader
from lit_dl.data import loader as loader_module


def _reference_batches(x, y, batch_size, seed, epoch):
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + epoch))
    return [(x[i], y[i]) for i in order.split(batch_size)]


def test_block_gathered_batches_equal_batch_by_batch_indexing(monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_BATCHES_PER_BLOCK", 3)  # several blocks, a short last one
    x, y = torch.randn(50, 2, 3), torch.arange(50)
    loader = TensorBatchLoader((x, y), batch_size=7, shuffle=True, seed=5)
    for epoch in range(2):
        batches = list(loader)
        reference = _reference_batches(x, y, 7, seed=5, epoch=epoch)
        assert len(batches) == len(reference) == len(loader) == 8
        for (bx, by), (rx, ry) in zip(batches, reference):
            assert torch.equal(bx, rx) and torch.equal(by, ry)


def test_resuming_inside_a_block_continues_with_the_next_batch(monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_BATCHES_PER_BLOCK", 3)
    x, y = torch.randn(50, 4), torch.arange(50)
    loader = TensorBatchLoader((x, y), batch_size=7, shuffle=True, seed=1)
    loader.load_state_dict({"epoch": 0, "batches_done": 4})  # one batch into the second block
    reference = _reference_batches(x, y, 7, seed=1, epoch=0)[4:]
    batches = list(loader)
    assert [b[1].tolist() for b in batches] == [r[1].tolist() for r in reference]
    assert loader.state_dict() == {"epoch": 0, "batches_done": 8}
