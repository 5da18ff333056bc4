"""Write scikit-learn's bundled real datasets as `.npz` files that `lit_dl.data.ArrayDataModule` reads.

    python scripts/make_sklearn_arrays.py data/real            # every dataset, split seed 0
    python scripts/make_sklearn_arrays.py data/real --seed 1 --only digits,diabetes
    lit-dl fit --config experiments/arrays_cnn.yaml --data.init_args.path data/real/digits.npz

Only datasets that ship inside the scikit-learn package are used (no download):
- digits: 1,797 handwritten digits as 8x8 grey images, stored flat (64 values), 10 classes. The
  same file serves an MLP (flat), a CNN (`input_shape: [1, 8, 8]`) and a GRU (`input_shape: [8, 8]`,
  the 8 rows read as 8 steps of 8 pixels);
- breast_cancer: 569 tumours, 30 measurements, 2 classes;
- wine: 178 wines, 13 chemical measurements, 3 cultivars;
- diabetes: 442 patients, 10 baseline variables, a disease-progression score (regression; the raw,
  unscaled variables, so that standardising them is the learner's job).

Each file holds x_train, y_train, x_test, y_test: a stratified (for classes) 75/25 split with the
given seed. Labels are int64 class indices; regression targets float32 of shape (n,).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DATASETS = ("digits", "breast_cancer", "wine", "diabetes")
TEST_FRACTION = 0.25


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (float32) and targets (int64 classes or float32 values) of one bundled dataset."""
    from sklearn import datasets

    if name not in DATASETS:
        raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if name == "diabetes":
        x, y = datasets.load_diabetes(return_X_y=True, scaled=False)
        return x.astype(np.float32), y.astype(np.float32)
    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
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
