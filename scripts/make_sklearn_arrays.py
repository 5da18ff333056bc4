"""Write scikit-learn's bundled real datasets as `.npz` files that `lit_dl.data.ArrayDataModule` reads.

    python scripts/make_sklearn_arrays.py data/real            # every dataset, split seed 0
    python scripts/make_sklearn_arrays.py data/real --seed 1 --only digits,diabetes
    lit-dl fit --config experiments/arrays_cnn.yaml --data.init_args.path data/real/digits.npz

Only data that ships inside the scikit-learn package, or that this script generates, is used (no
download):
- digits: 1,797 handwritten digits as 8x8 grey images, stored flat (64 values), 10 classes. The
  same file serves an MLP (flat), a CNN (`input_shape: [1, 8, 8]`) and a GRU (`input_shape: [8, 8]`,
  the 8 rows read as 8 steps of 8 pixels);
- breast_cancer: 569 tumours, 30 measurements, 2 classes;
- wine: 178 wines, 13 chemical measurements, 3 cultivars;
- diabetes: 442 patients, 10 baseline variables, a disease-progression score (regression; the raw,
  unscaled variables, so that standardising them is the learner's job);
- digits28: the same digits as 28x28 grey images with pixels 0-255 (uint8), the 8x8 image
  upsampled to 24x24 and zero-padded by 2, stored flat (784 values): an image-like set with empty
  borders, read as `input_shape: [1, 28, 28]` by a CNN;
- signals: 5,000 generated 1-D signals of 40 steps, stored flat (40 values), 10 classes: five
  wave shapes (sine, square, triangle, sawtooth, pulse train) at a low and a high frequency band,
  each with a random phase, amplitude, offset and noise; read as `input_shape: [40, 1]` by a GRU.

Each file holds x_train, y_train, x_test, y_test: a stratified (for classes) 75/25 split with the
given seed. Labels are int64 class indices; regression targets float32 of shape (n,).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DATASETS = ("digits", "breast_cancer", "wine", "diabetes", "digits28", "signals")
TEST_FRACTION = 0.25


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (float32) and targets (int64 classes or float32 values) of one bundled dataset."""
    from sklearn import datasets

    if name not in DATASETS:
        raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if name == "diabetes":
        x, y = datasets.load_diabetes(return_X_y=True, scaled=False)
        return x.astype(np.float32), y.astype(np.float32)
    if name == "digits28":
        return digits_as_28x28(*datasets.load_digits(return_X_y=True))
    if name == "signals":
        return generate_signals()
    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return x.astype(np.float32), y.astype(np.int64)


def digits_as_28x28(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (values 0-16) as 28x28 uint8 images: bilinear upsampling to 24x24,
    a border of 2 empty pixels, stored flat."""
    from scipy.ndimage import zoom

    images = zoom(x.reshape(-1, 8, 8) * (255 / 16), (1, 3, 3), order=1, grid_mode=True, mode="nearest")
    padded = np.pad(images.clip(0, 255).round(), ((0, 0), (2, 2), (2, 2)))
    return padded.reshape(len(x), 28 * 28).astype(np.uint8), y.astype(np.int64)


def generate_signals(n: int = 5000, steps: int = 40, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """`n` noisy 1-D signals of `steps` steps in 10 classes: a wave shape (sine, square, triangle,
    sawtooth, pulse train) times a frequency band (1.5-2.5 or 3.5-5 cycles). Phase, amplitude,
    offset and noise are drawn per signal, so no single step, and no fixed scale, gives the class."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 10)
    shape, band = y % 5, y // 5
    cycles = np.where(band == 0, rng.uniform(1.5, 2.5, n), rng.uniform(3.5, 5.0, n))
    phase = rng.uniform(0, 1, n)
    t = (np.arange(steps) / steps)[None, :] * cycles[:, None] + phase[:, None]
    frac = t % 1.0
    waves = np.stack([
        np.sin(2 * np.pi * t),
        np.where(frac < 0.5, 1.0, -1.0),
        4 * np.abs(frac - 0.5) - 1,
        2 * frac - 1,
        np.where(frac < 0.2, 1.0, -0.25),
    ])
    x = waves[shape, np.arange(n)]
    amplitude = rng.lognormal(0.0, 0.5, n)[:, None]
    offset = rng.normal(0.0, 0.5, n)[:, None]
    x = amplitude * (x + rng.normal(0.0, 0.3, x.shape)) + offset
    return x.astype(np.float32), y.astype(np.int64)


def split(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    from sklearn.model_selection import train_test_split

    stratify = y if y.dtype.kind in "iu" else None
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=seed, stratify=stratify
    )
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def write(directory: str | Path, names: tuple[str, ...] = DATASETS, seed: int = 0) -> dict[str, Path]:
    """Write `<directory>/<name>.npz` for each dataset; returns the paths by name."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        paths[name] = directory / f"{name}.npz"
        np.savez(paths[name], **split(*load(name), seed=seed))
    return paths


def main(argv: list[str] | None = None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default="data/real")
    parser.add_argument("--seed", type=int, default=0, help="the train/test split's seed")
    parser.add_argument("--only", default=",".join(DATASETS), help="comma-separated dataset names")
    args = parser.parse_args(argv)
    paths = write(args.directory, tuple(n for n in args.only.split(",") if n), seed=args.seed)
    for path in paths.values():
        print(path)
    return paths


if __name__ == "__main__":
    main()
