"""Random images in CIFAR-10's on-disk format (`cifar-10-batches-py/`), of any size up to the
real one, so that the benchmark runs torchvision's own loading code without a download."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

FOLDER = "cifar-10-batches-py"
LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar10(root: str | Path, images_per_batch: int = 10000, test_images: int = 10000, seed: int = 0) -> Path:
    """Five training batches of `images_per_batch` images, a test batch and `batches.meta` under
    `root/cifar-10-batches-py/` (torchvision reads them with `pickle.load(encoding="latin1")`,
    so `str` keys do). Returns `root`."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {f"data_batch_{index}": images_per_batch for index in range(1, 6)} | {"test_batch": test_images}
    for name, n in sizes.items():
        data = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as file:
            pickle.dump({"data": data, "labels": [i % 10 for i in range(n)]}, file, protocol=2)
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({"label_names": LABEL_NAMES, "num_cases_per_batch": images_per_batch}, file, protocol=2)
    return Path(root)
