"""Write a tiny CIFAR-10 in the real on-disk format, so tests run torchvision's own loading code.

The real `cifar-10-batches-py/` files are Python 2 pickles: dicts whose keys (b"data",
b"labels", ...) are Python 2 `str`s, holding a uint8 `(N, 3072)` array (1024 red, 1024 green,
1024 blue values, rows of 32) and a list of int labels. torchvision reads them with
`pickle.load(f, encoding="latin1")`, which turns those `str`s into text; Python 3 `bytes` keys
would stay bytes and break it. So `_Py2Pickler` writes bytes the way Python 2 wrote `str`.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def make_batch(n: int, rng: np.random.Generator, label_offset: int = 0) -> tuple[np.ndarray, list[int]]:
    """`n` random images as CIFAR rows `(n, 3072)` uint8, and labels cycling through all ten classes."""
    data = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
    labels = [(label_offset + i) % 10 for i in range(n)]
    return data, labels


def write_cifar10(
    root: str | Path, images_per_batch: int = 20, test_images: int = 20, seed: int = 0, archive: bool = False
) -> Path:
    """Write `root/cifar-10-batches-py/` (5 training batches, a test batch, `batches.meta`), or with
    `archive=True` only `root/cifar-10-python.tar.gz` holding that folder. Returns `root`."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    files: dict[str, bytes] = {}
    for index in range(1, 6):
        data, labels = make_batch(images_per_batch, rng, label_offset=index)
        files[f"data_batch_{index}"] = py2_pickle({
            b"batch_label": b"training batch %d of 5" % index,
            b"labels": labels,
            b"data": data,
            b"filenames": [b"image_%d_%d.png" % (index, i) for i in range(images_per_batch)],
        })
    data, labels = make_batch(test_images, rng)
    files["test_batch"] = py2_pickle({
        b"batch_label": b"testing batch 1 of 1",
        b"labels": labels,
        b"data": data,
        b"filenames": [b"test_%d.png" % i for i in range(test_images)],
    })
    files["batches.meta"] = py2_pickle({
        b"num_cases_per_batch": images_per_batch,
        b"label_names": [name.encode() for name in LABEL_NAMES],
        b"num_vis": 3 * 32 * 32,
    })
    root.mkdir(parents=True, exist_ok=True)
    if archive:
        with tarfile.open(root / ARCHIVE, "w:gz") as tar:
            for name, content in files.items():
                info = tarfile.TarInfo(f"{FOLDER}/{name}")
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    else:
        (root / FOLDER).mkdir(exist_ok=True)
        for name, content in files.items():
            (root / FOLDER / name).write_bytes(content)
    return root


def read_images(root: str | Path, name: str) -> tuple[np.ndarray, list[int]]:
    """One written file's images as `(N, 3, 32, 32)` uint8 and its labels, read independently of torchvision."""
    with open(Path(root) / FOLDER / name, "rb") as f:
        entry = pickle.load(f, encoding="bytes")
    return entry[b"data"].reshape(-1, 3, 32, 32), entry[b"labels"]
