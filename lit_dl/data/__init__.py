"""LightningDataModules. Each exposes `input_shape`, `num_outputs`, `num_classes` and `task`."""

from lit_dl.data.arrays import ArrayDataModule
from lit_dl.data.augment import ImageAugment
from lit_dl.data.base import InMemoryDataModule
from lit_dl.data.cifar10 import CIFAR10DataModule
from lit_dl.data.loader import TensorBatchLoader
from lit_dl.data.sequences import SyntheticSequenceDataModule, generate_sequences
from lit_dl.data.toy import ToyClassificationDataModule

__all__ = [
    "ArrayDataModule",
    "CIFAR10DataModule",
    "ImageAugment",
    "InMemoryDataModule",
    "SyntheticSequenceDataModule",
    "TensorBatchLoader",
    "ToyClassificationDataModule",
    "generate_sequences",
]
