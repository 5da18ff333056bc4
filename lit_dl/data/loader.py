"""Batches sliced straight out of in-memory tensors.

A `DataLoader` over a `TensorDataset` indexes and collates one sample at a time; for data that
fits in memory that per-sample Python dominates a small model's step. `TensorBatchLoader` gathers
the rows of many batches at once with a slice of a shuffled permutation (a few MiB at a time), and
each batch is then a view of that block: one gather per block instead of one per batch and tensor.

It is stateful (`state_dict` / `load_state_dict`): Lightning saves its position inside the epoch
in every checkpoint, so a run resumed mid-epoch sees exactly the batches it would have seen.

An optional per-batch `transform` (augmentation, normalisation) runs on whatever device the tensors
live on. Its random numbers come from a CPU generator seeded by (seed, epoch, rank, batch), so a
batch is the same on CPU and GPU, and after a mid-epoch resume.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

# (batch tensors, generator for this batch's random draws) -> transformed batch tensors
BatchTransform = Callable[[tuple[Tensor, ...], torch.Generator], tuple[Tensor, ...]]

# How much one gather copies: enough batches to amortise the per-gather cost, small enough that
# the block's copy of the data stays a small fraction of memory (and of a GPU's cache).
BLOCK_BYTES = 8 * 2**20
MAX_BATCHES_PER_BLOCK = 64


class TensorBatchLoader:
    """Iterate over `(t[idx] for t in tensors)` batches; a new seeded permutation each epoch."""

    def __init__(
        self,
        tensors: Sequence[Tensor],
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        transform: BatchTransform | None = None,
    ) -> None:
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            raise ValueError(f"tensors differ in length: {sorted(lengths)}")
        self.tensors = tuple(tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.transform = transform
        self.epoch = 0  # the epoch being (or last) iterated; its seed picks the permutation
        self._batches_done = 0  # position inside that epoch, for exact resume
        self._resuming = False  # set by load_state_dict: the next __iter__ continues `epoch`
        self._started = False

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch (every rank the same count, as DistributedSampler)."""
        total = len(self.tensors[0])
        return math.ceil(total / self.world_size) if not self.drop_last else total // self.world_size

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _epoch_indices(self) -> Tensor:
        total = len(self.tensors[0])
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(total, generator=generator)
        else:
            order = torch.arange(total)
        if self.world_size > 1:
            padded = self.num_samples * self.world_size
            if padded > total:  # pad by wrapping, as DistributedSampler does
                order = torch.cat([order, order[: padded - total]])
            order = order[self.rank : padded : self.world_size]
        return order

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        # An epoch cut short (limit_train_batches, sanity checks) must not leak into the next
        # one, so every __iter__ starts a fresh epoch unless a checkpoint said where to continue.
        if self._resuming:
            self._resuming = False
        else:
            if self._started:
                self.epoch += 1
            self._batches_done = 0
        self._started = True
        order = self._epoch_indices().to(self.tensors[0].device)  # one copy an epoch, not one a batch
        per_block = self._batches_per_block()
        batch, stop = self._batches_done, len(self)
        while batch < stop:
            block_stop = min(batch + per_block, stop)
            start = batch * self.batch_size
            idx = order[start : block_stop * self.batch_size]
            # Every batch of the block as views, made in one call per tensor.
            views = [t[idx.to(t.device)].split(self.batch_size) for t in self.tensors]
            for batch, tensors in zip(range(batch, block_stop), zip(*views)):
                self._batches_done = batch + 1
                if self.transform is not None:
                    tensors = self.transform(tensors, self._batch_generator(batch))
                yield tensors
            batch = block_stop

    def _batches_per_block(self) -> int:
        row_bytes = sum(t[:1].numel() * t.element_size() for t in self.tensors)
        return max(1, min(MAX_BATCHES_PER_BLOCK, BLOCK_BYTES // max(1, row_bytes * self.batch_size)))

    def _batch_generator(self, batch: int) -> torch.Generator:
        # SeedSequence mixes the four numbers so that neighbouring batches, epochs and ranks get
        # unrelated streams (a plain sum would give batch 1 of epoch 0 the stream of batch 0 of epoch 1).
        entropy = [self.seed % 2**63, self.epoch, self.rank, batch]
        seed = int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])
        return torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_done": self._batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = state["epoch"]
        self._batches_done = state["batches_done"]
        self._started = True
        self._resuming = self._batches_done < len(self)
