"""The shared base of DataModules whose whole dataset fits in memory as tensors."""

from __future__ import annotations

from typing import Literal

import lightning.pytorch as pl
import torch
from torch import Tensor

from lit_dl.data.inputs import RawInputs
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
    task: Literal["classification", "regression"] | None = None  # None: the DataModule does not say
    # Set by `scale_targets`: the training targets' per-output mean and standard deviation.
    target_mean: Tensor | None = None
    target_std: Tensor | None = None

    def __init__(self, batch_size: int = 64, eval_batch_size: int | None = None, seed: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or max(batch_size, 256)
        self.seed = seed
        self.splits: dict[str, Split] = {}

    def scale_targets(self) -> None:
        """Scale every split's regression targets to zero mean and unit variance per output with the
        training split's statistics, kept in `target_mean` and `target_std`: a Regressor reads
        them to report its errors and predictions in the targets' own units."""
        y_train = self.splits["train"][-1].float()
        mean = y_train.mean(dim=0)
        # A constant output would divide by zero; leave it centred but unscaled.
        std = y_train.std(dim=0) if len(y_train) > 1 else torch.ones_like(mean)
        std = torch.where(std > 0, std, torch.ones_like(std))
        self.target_mean, self.target_std = mean, std
        self.splits = {name: (*split[:-1], (split[-1] - mean) / std) for name, split in self.splits.items()}

    def input_transform(self) -> RawInputs:
        """What is done to a user's raw inputs before the net reads them (`lit-dl export` puts it
        in front of the net); nothing here: generated data is made as the net reads it."""
        return RawInputs(self.input_shape)

    def raw_test_inputs(self, count: int) -> Tensor:
        """The first `count` test inputs as a user has them, before `input_transform`."""
        return self.splits["test"][0][:count].cpu()

    def tensors(self, split: str) -> Split:
        """The tensors a loader of `split` serves (a subclass may transform the stored ones)."""
        return self.splits[split]

    def _loader(self, split: str, train: bool) -> TensorBatchLoader:
        # Each DDP rank reads its own shard.
        rank, world = distributed_position(self.trainer)
        return TensorBatchLoader(
            self.tensors(split),
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
