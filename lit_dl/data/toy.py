"""Small classification problems generated in memory: no files, no network, seconds to train."""

from __future__ import annotations

import math
from typing import Literal

import torch

from lit_dl.data.base import InMemoryDataModule
from lit_dl.errors import UserError


def make_spirals(n: int, num_classes: int, noise: float, generator: torch.Generator):
    """Interleaved 2-D spiral arms, one per class: not linearly separable, easy for an MLP."""
    labels = torch.randint(0, num_classes, (n,), generator=generator)
    radius = torch.rand(n, generator=generator)
    angle = 4.0 * radius + labels * (2 * math.pi / num_classes)
    angle = angle + noise * torch.randn(n, generator=generator)
    points = torch.stack([radius * torch.sin(angle), radius * torch.cos(angle)], dim=1)
    return points, labels


def make_blobs(n: int, num_classes: int, num_features: int, noise: float, generator: torch.Generator):
    """Gaussian clusters around random centres: linearly separable for small noise."""
    centres = 2.0 * torch.randn(num_classes, num_features, generator=generator)
    labels = torch.randint(0, num_classes, (n,), generator=generator)
    points = centres[labels] + noise * torch.randn(n, num_features, generator=generator)
    return points, labels


class ToyClassificationDataModule(InMemoryDataModule):
    """`spirals` (2 features) or `blobs` (any number of features), seeded, split train/val/test."""

    def __init__(
        self,
        kind: Literal["spirals", "blobs"] = "spirals",
        num_classes: int = 3,
        num_features: int = 2,
        n_train: int = 4000,
        n_val: int = 1000,
        n_test: int = 1000,
        noise: float = 0.2,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, seed=seed)
        for option, count, least in (("n_train", n_train, 1), ("n_val", n_val, 1), ("n_test", n_test, 0)):
            if count < least:
                raise UserError(f"data.init_args.{option} is {count}; it must be at least {least}")
        if num_classes < 2:
            raise UserError(f"num_classes must be at least 2, got {num_classes}")
        if kind == "spirals" and num_features != 2:
            raise UserError("spirals are 2-D: set num_features: 2 (or use kind: blobs)")
        self.kind = kind
        self.num_classes = num_classes
        self.num_outputs = num_classes
        self.input_shape = (num_features,)
        self.task = "classification"
        generator = torch.Generator().manual_seed(seed)
        n = n_train + n_val + n_test
        if kind == "spirals":
            x, y = make_spirals(n, num_classes, noise, generator)
        else:
            x, y = make_blobs(n, num_classes, num_features, noise, generator)
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
        self.splits = {name: (x[a:b], y[a:b]) for name, (a, b) in bounds.items()}
