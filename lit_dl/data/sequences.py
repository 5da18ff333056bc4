"""Synthetic sequence problems with known difficulty, generated in memory from a seed.

Each problem probes one ability of a sequence model:
- `adding`: long-range recall of two marked values (regression; predicting 1 scores MSE 1/6);
- `parity`, `majority`: a summary of every step, the classic hard cases for gated memory;
- `sine`: forecasting the next value of a noisy periodic signal (regression);
- `pattern`: finding where a motif sits in noise and which one it is (attention does well).

Generation is whole-tensor arithmetic, with no Python loop over samples or steps, so that large
datasets cost a fraction of a second (see `generate_sequences`).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import Tensor

from lit_dl.data.base import InMemoryDataModule
from lit_dl.errors import UserError

Problem = Literal["adding", "parity", "majority", "sine", "pattern"]
PROBLEMS: tuple[str, ...] = get_args(Problem)

# Features per step a problem requires (None: any count works), and the count used when none is given.
FIXED_FEATURES = {"adding": 2, "parity": 1, "majority": 1, "sine": None, "pattern": None}
DEFAULT_FEATURES = {"adding": 2, "parity": 1, "majority": 1, "sine": 1, "pattern": 4}

SINE_NOISE = 0.1  # std of the noise on the observed sine; the target is the clean next value
SINE_FREQUENCIES = (0.02, 0.2)  # cycles per step: from well under one period in 50 steps to ten
MOTIF_LENGTH = 8
# Motif amplitude per feature, scaled by 1/sqrt(features) so the motif's total energy, and with it
# the best achievable accuracy (about 98% for a matched filter with 4 motifs), is the same for any width.
MOTIF_AMPLITUDE = 2.0


def is_classification(problem: str) -> bool:
    return problem in ("parity", "majority", "pattern")


def generate_adding(n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Values in [0, 1) with one marked step in each half; the target is the sum of the two.

    The sum has mean 1 and variance 2/12, so always predicting 1 scores MSE 1/6: a model has to
    beat that to show it remembers anything.
    """
    values = torch.rand(n, seq_len, generator=generator)
    half = seq_len // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, seq_len, (n,), generator=generator)
    markers = torch.zeros(n, seq_len)
    markers.scatter_(1, torch.stack([first, second], dim=1), 1.0)
    target = (values * markers).sum(dim=1, keepdim=True)
    return torch.stack([values, markers], dim=2), target


def generate_bits(
    n: int, seq_len: int, rule: Literal["parity", "majority"], generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Random 0/1 sequences labelled by their parity, or by whether ones are the majority
    (a tie, possible for even lengths, counts as not a majority)."""
    bits = torch.randint(0, 2, (n, seq_len), generator=generator)
    ones = bits.sum(dim=1)
    labels = ones % 2 if rule == "parity" else (2 * ones > seq_len).long()
    return bits.float().unsqueeze(2), labels


def generate_sine(n: int, seq_len: int, num_features: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """`num_features` independent sines per sample, each of random frequency and phase, observed
    with noise for `seq_len` steps; the target is every sine's clean value one step later."""
    low, high = SINE_FREQUENCIES
    frequency = low + (high - low) * torch.rand(n, 1, num_features, generator=generator)
    phase = 2 * math.pi * torch.rand(n, 1, num_features, generator=generator)
    steps = torch.arange(seq_len + 1, dtype=torch.float32).view(1, -1, 1)
    clean = torch.sin(2 * math.pi * frequency * steps + phase)
    noise = SINE_NOISE * torch.randn(n, seq_len, num_features, generator=generator)
    return clean[:, :seq_len] + noise, clean[:, seq_len]


def generate_pattern(
    n: int, seq_len: int, num_features: int, num_patterns: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Gaussian noise with one of `num_patterns` fixed +-amplitude motifs added at a random
    position; the label is which motif. The motifs are the generator's first draws."""
    length = min(MOTIF_LENGTH, seq_len)
    amplitude = MOTIF_AMPLITUDE / math.sqrt(num_features)
    signs = torch.randint(0, 2, (num_patterns, length, num_features), generator=generator)
    motifs = amplitude * (2.0 * signs - 1.0)
    x = torch.randn(n, seq_len, num_features, generator=generator)
    labels = torch.randint(0, num_patterns, (n,), generator=generator)
    start = torch.randint(0, seq_len - length + 1, (n,), generator=generator)
    rows = torch.arange(n).unsqueeze(1)
    steps = start.unsqueeze(1) + torch.arange(length)
    x[rows, steps] += motifs[labels]
    return x, labels


def generate_sequences(
    problem: str,
    n: int,
    seq_len: int,
    num_features: int | None = None,
    generator: torch.Generator | None = None,
    num_patterns: int = 4,
) -> tuple[Tensor, Tensor]:
    """`n` samples of `problem`: inputs float32 `(n, seq_len, num_features)` and targets, int64
    class indices `(n,)` for classification, float32 `(n, num_outputs)` for regression."""
    if problem not in PROBLEMS:
        raise UserError(f"unknown sequence problem {problem!r}; choose one of {', '.join(PROBLEMS)}")
    num_features = DEFAULT_FEATURES[problem] if num_features is None else num_features
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    if problem == "adding":
        return generate_adding(n, seq_len, generator)
    if problem in ("parity", "majority"):
        return generate_bits(n, seq_len, problem, generator)
    if problem == "sine":
        return generate_sine(n, seq_len, num_features, generator)
    return generate_pattern(n, seq_len, num_features, num_patterns, generator)


class SyntheticSequenceDataModule(InMemoryDataModule):
    """A seeded synthetic sequence problem split into train/val/test; batches are `(x, y)` with
    `x` of shape `(batch, seq_len, num_features)`."""

    def __init__(
        self,
        problem: Problem = "adding",
        seq_len: int = 50,
        num_features: int | None = None,
        n_train: int = 10000,
        n_val: int = 2000,
        n_test: int = 2000,
        num_patterns: int = 4,
        standardize_targets: bool = True,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        """
        Args:
            problem: adding, parity, majority, sine or pattern.
            seq_len: steps per sequence.
            num_features: features per step; adding needs 2, parity and majority 1. Left out,
                the problem's own (sine 1, pattern 4).
            n_train: training samples.
            n_val: validation samples.
            n_test: test samples.
            num_patterns: how many motifs (classes) the pattern problem hides.
            standardize_targets: for regression, train on targets scaled to zero mean and unit
                variance with the training split's statistics; a Regressor still logs its errors
                and predicts in the targets' units.
            batch_size: samples per training batch.
            eval_batch_size: samples per validation and test batch (default max(batch_size, 256)).
            seed: generates the data and shuffles the batches.
        """
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, seed=seed)
        if problem not in PROBLEMS:
            raise UserError(f"unknown sequence problem {problem!r}; choose one of {', '.join(PROBLEMS)}")
        fixed = FIXED_FEATURES[problem]
        if num_features is not None and fixed is not None and num_features != fixed:
            raise UserError(f"the {problem} problem has {fixed} feature(s) per step; drop num_features or set it to {fixed}")
        num_features = DEFAULT_FEATURES[problem] if num_features is None else num_features
        if num_features < 1:
            raise UserError(f"num_features must be at least 1, got {num_features}")
        minimum_len = 2 if problem == "adding" else 1
        if seq_len < minimum_len:
            raise UserError(f"seq_len must be at least {minimum_len} for the {problem} problem, got {seq_len}")
        for name, count in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if count < 1:
                raise UserError(f"{name} must be at least 1, got {count}")
        if problem == "pattern" and num_patterns < 2:
            raise UserError(f"num_patterns must be at least 2, got {num_patterns}")

        self.problem = problem
        self.seq_len = seq_len
        self.num_features = num_features
        self.input_shape = (seq_len, num_features)
        if is_classification(problem):
            self.task = "classification"
            self.num_classes = num_patterns if problem == "pattern" else 2
            self.num_outputs = self.num_classes
        else:
            self.task = "regression"
            self.num_classes = None
            self.num_outputs = 1 if problem == "adding" else num_features

        # One draw for all splits, so that they share the pattern problem's motifs.
        generator = torch.Generator().manual_seed(seed)
        n = n_train + n_val + n_test
        x, y = generate_sequences(problem, n, seq_len, num_features, generator, num_patterns=num_patterns)
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
        self.splits = {name: (x[a:b], y[a:b]) for name, (a, b) in bounds.items()}
        if self.task == "regression" and standardize_targets:
            self.scale_targets()
