"""Write an example `.npz` in the layout `lit_dl.data.ArrayDataModule` reads.

    python scripts/make_example_arrays.py data/example_arrays.npz
    lit-dl fit --config experiments/arrays_cnn.yaml --data.init_args.path data/example_arrays.npz

Each sample is a noisy 8x8 image (stored flat, 64 values) with a bright 3x3 blob in one of four
quadrants; the label is the quadrant. The same file serves an MLP (64 features), a CNN
(`input_shape: [1, 8, 8]`) and a GRU (`input_shape: [8, 8]`: 8 rows read as 8 steps).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def make_blob_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 4, size=n)
    images = rng.normal(0.0, 0.5, size=(n, 8, 8)).astype(np.float32)
    # Quadrant q puts the blob's top-left corner in rows/cols [0, 2) or [4, 6) (+ jitter).
    rows = (labels // 2) * 4 + rng.integers(0, 2, size=n)
    cols = (labels % 2) * 4 + rng.integers(0, 2, size=n)
    for dr in range(3):
        for dc in range(3):
            images[np.arange(n), rows + dr, cols + dc] += 1.5
    return images.reshape(n, 64), labels.astype(np.int64)


def main(path: str = "data/example_arrays.npz", n_train: int = 4000, n_test: int = 1000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x_train, y_train = make_blob_images(n_train, rng)
    x_test, y_test = make_blob_images(n_test, rng)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return out


if __name__ == "__main__":
    print(main(*sys.argv[1:2]))
