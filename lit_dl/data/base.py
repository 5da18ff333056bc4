"""The shared base of DataModules whose whole dataset fits in memory as tensors."""

from __future__ import annotations

from typing import Literal

import lightning.pytorch as pl
import torch
from torch import Tensor

from lit_dl.data.loader import TensorBatchLoader

Split = tuple[Tensor, ...]  # (*inputs, target)


def distributed_position(trainer: pl.Trainer | None) -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without a trainer, i.e. in plain use."""
    return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)


def training_device(trainer: pl.Trainer | None) -> torch.device:
    """The device the strategy trains on (this rank's GPU under DDP); the CPU without a trainer."""
    return trainer.strategy.root_device if trainer is not None else torch.device("cpu")


class InMemoryDataModule(pl.LightningDataModule):
    """Subclasses fill `self.splits` ("train", "val", "test", optionally "predict") in `__init__`
    or `setup`, and set `input_shape`, `num_outputs`, `num_classes` and `task` in `__init__`
    so the CLI can link them into the net before anything is built."""

    input_shape: tuple[int, ...]
    num_outputs: int
    num_classes: int | None = None
    task: Literal["classification", "regression"] = "classification"

    def __init__(self, batch_size: int = 64, eval_batch_size: int | None = None, seed: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or max(batch_size, 256)
        self.seed = seed
        self.splits: dict[str, Split] = {}

    def _loader(self, split: str, train: bool) -> TensorBatchLoader:
        # Each DDP rank reads its own shard.
        rank, world = distributed_position(self.trainer)
        return TensorBatchLoader(
            self.splits[split],
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            rank=rank,
            world_size=world,
        )

    def train_dataloader(self) -> TensorBatchLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> TensorBatchLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> TensorBatchLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> TensorBatchLoader:
        return self._loader("predict" if "predict" in self.splits else "test", train=False)
