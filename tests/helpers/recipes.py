"""Flags that shrink any experiment file to tiny data, so that a recipe runs in seconds.

CIFAR-10 recipes read a tiny archive in the real on-disk format (`tiny_cifar10` fixture), the
user's-arrays recipes a tiny .npz, the rest generate a few dozen samples in memory.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers.paths import EXPERIMENTS, REPO

RECIPES = sorted(EXPERIMENTS.glob("*.yaml"))
TRAINER_PRESETS = sorted((EXPERIMENTS / "trainer").glob("*.yaml"))


def data_class(experiment: Path) -> str:
    config = yaml.safe_load(Path(experiment).read_text())
    return config["data"]["class_path"].rsplit(".", 1)[-1]


def tiny_data(experiment: Path, tiny_cifar10: Path, example_npz: str) -> list[str]:
    """`--data.*` flags that make `experiment` train on a few dozen samples."""
    return tiny_data_flags(data_class(experiment), tiny_cifar10, example_npz)


def tiny_data_flags(kind: str, tiny_cifar10: Path | str | None = None, example_npz: str | None = None) -> list[str]:
    """The same, by the DataModule's class name."""
    if kind == "CIFAR10DataModule":
        return [
            "--data.init_args.data_dir", str(tiny_cifar10), "--data.init_args.download", "false",
            "--data.init_args.verify_md5", "false", "--data.init_args.val_size", "20",
            "--data.init_args.num_workers", "0", "--data.init_args.batch_size", "8",
        ]
    if kind == "ArrayDataModule":
        return ["--data.init_args.path", str(example_npz)]
    return ["--data.init_args.n_train", "64", "--data.init_args.n_val", "32", "--data.init_args.n_test", "32"]


def write_example_npz(path: Path, samples: int | None = 200) -> str:
    """The example arrays the README makes (`python scripts/make_example_arrays.py PATH`), cut to
    `samples` training and a quarter as many test samples."""
    import subprocess
    import sys

    import numpy as np

    subprocess.run([sys.executable, str(REPO / "scripts" / "make_example_arrays.py"), str(path)], check=True, capture_output=True)
    if samples is not None:
        with np.load(path) as arrays:
            cut = {name: array[: samples if "train" in name else samples // 4] for name, array in arrays.items()}
        np.savez(path, **cut)
    return str(path)
