"""Where runs live, and the one place that spells a run's paths:

    <root>/<experiment>/version_<n>/
        config.yaml  results.json  metrics.csv  run.lock  slurm_job  lr_find.json
        checkpoints/best.ckpt  checkpoints/last.ckpt

Every other module asks `RunPaths` (or the functions below) for a path; none spells one.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

VERSION_PREFIX = "version_"
VERSION_PATTERN = re.compile(rf"^{VERSION_PREFIX}(\d+)$")
DEFAULT_ROOT_DIR = "runs"  # trainer.default_root_dir unless the config says otherwise
CHECKPOINTS = "checkpoints"
LAST = "last"  # checkpoint names, without the extension
BEST = "best"
CHECKPOINT_SUFFIX = ".ckpt"
CONFIG_FILE = "config.yaml"
RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.csv"
LOCK_FILE = "run.lock"
SLURM_JOB_FILE = "slurm_job"
HPARAMS_FILE = "hparams.yaml"
PREDICTIONS_FILE = "predictions.pt"  # `lit-dl predict`'s tensors, and its table beside them
PREDICTIONS_TABLE = "predictions.csv"
EXPORT_DIR = "export"  # `lit-dl export`'s files: export/best.onnx, export/last.pt2, ...
LR_FIND_FILE = "lr_find.json"  # what `lit-dl lr-find` leaves in its version
WANDB_ID_FILE = "wandb_id.txt"  # a resumed run continues its W&B run
TENSORBOARD_DIR = "tensorboard"
TEMPORARY_MARK = ".tmp-"  # `<name>.tmp-<pid>`: a file being written, renamed into place when whole


@dataclass(frozen=True)
class RunPaths:
    """The files of one run directory."""

    run_dir: Path

    @property
    def experiment(self) -> str:
        return self.run_dir.parent.name

    @property
    def config(self) -> Path:
        return self.run_dir / CONFIG_FILE

    @property
    def results(self) -> Path:
        return self.run_dir / RESULTS_FILE

    @property
    def metrics(self) -> Path:
        return self.run_dir / METRICS_FILE

    @property
    def lock(self) -> Path:
        return self.run_dir / LOCK_FILE

    @property
    def slurm_job(self) -> Path:
        return self.run_dir / SLURM_JOB_FILE

    @property
    def predictions(self) -> Path:
        return self.run_dir / PREDICTIONS_FILE

    @property
    def predictions_table(self) -> Path:
        return self.run_dir / PREDICTIONS_TABLE

    @property
    def exports(self) -> Path:
        return self.run_dir / EXPORT_DIR

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / CHECKPOINTS

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint(LAST)

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoint(BEST)

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints / f"{name}{CHECKPOINT_SUFFIX}"

    def temporary_files(self) -> list[Path]:
        """Files left half-written by a process that stopped while writing them."""
        folders = [self.run_dir, self.checkpoints]
        return sorted(p for folder in folders if folder.is_dir() for p in folder.iterdir() if TEMPORARY_MARK in p.name)


def temporary_path(path: Path) -> Path:
    """Where this process writes `path` before renaming it into place."""
    return path.with_name(f"{path.name}{TEMPORARY_MARK}{os.getpid()}")


def stale_temporaries(path: Path) -> list[Path]:
    """The temporary files of `path` that processes killed while writing it left behind."""
    import glob

    return list(path.parent.glob(f"{glob.escape(path.name)}{TEMPORARY_MARK}*"))


def version_dir(experiment_dir: Path, version: int) -> Path:
    return Path(experiment_dir) / f"{VERSION_PREFIX}{version}"


def is_run_dir_name(name: str) -> bool:
    return VERSION_PATTERN.match(name) is not None


def versions(experiment_dir: Path) -> list[int]:
    """The version numbers already present, in increasing (numeric) order."""
    if not experiment_dir.is_dir():
        return []
    found = (VERSION_PATTERN.match(p.name) for p in experiment_dir.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def run_dirs(experiment_dir: Path) -> list[Path]:
    """The experiment's run directories, newest first."""
    return [version_dir(experiment_dir, version) for version in reversed(versions(experiment_dir))]


def next_version(experiment_dir: Path) -> int:
    """A version number no earlier run has used: runs never overwrite each other."""
    existing = versions(experiment_dir)
    return existing[-1] + 1 if existing else 0


def newest_run(experiment_dir: Path) -> Path | None:
    """The newest version that trains: an `lr-find` leaves a version with only its search."""
    return next((run_dir for run_dir in run_dirs(experiment_dir) if not (run_dir / LR_FIND_FILE).is_file()), None)


@dataclass
class Reservation:
    """The `version_<n>` folder a new run claimed, and the folders created to hold it.

    `release()` removes them again if they are empty; `discard()` also removes what a run that
    failed before it logged or saved anything wrote (its config.yaml, results.json)."""

    run_dir: Path
    created: list[Path] = field(default_factory=list)

    def release(self) -> None:
        for folder in reversed(self.created):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty (or gone): it holds something of a run

    def discard(self) -> None:
        """Remove the run this process created, with whatever it wrote, then the empty folders."""
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.release()


def reserve_version(experiment_dir: Path) -> Reservation:
    """Create the next `version_<n>` folder; two runs started at once get two."""
    created = [d for d in (*reversed(experiment_dir.parents), experiment_dir) if not d.exists()]
    experiment_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(experiment_dir)
    while True:
        run_dir = version_dir(experiment_dir, version)
        try:
            run_dir.mkdir()
            return Reservation(run_dir, [*created, run_dir])
        except FileExistsError:
            version += 1


def run_dir_of_checkpoint(ckpt_path: Path) -> Path | None:
    """`.../version_3` for `.../version_3/checkpoints/x.ckpt`; None outside a run directory.

    The path keeps the spelling it was given (relative stays relative)."""
    for path in (Path(os.path.normpath(ckpt_path)), Path(ckpt_path).resolve()):
        parent = path.parent
        if parent.name == CHECKPOINTS and is_run_dir_name(parent.parent.name):
            return parent.parent
    return None


def run_dir_of_config(config_path: Path) -> Path | None:
    """`.../quickstart/version_3` for that run's own `config.yaml`; None for any other file."""
    path = Path(os.path.normpath(config_path))
    if path.name == CONFIG_FILE and is_run_dir_name(path.parent.name):
        return path.parent
    return None


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest of a run's `last.ckpt` and any `hpc_ckpt_<n>.ckpt` a SLURM requeue left."""
    checkpoints = RunPaths(run_dir).checkpoints
    candidates = [RunPaths(run_dir).last_checkpoint, *checkpoints.glob(f"hpc_ckpt_*{CHECKPOINT_SUFFIX}")]
    existing = [(path.stat().st_mtime, path) for path in candidates if path.is_file()]
    return max(existing)[1] if existing else None


def best_checkpoint(run_dir: Path, recorded: str | None = None) -> Path | None:
    """A run's `best.ckpt`, or the best checkpoint its results.json recorded."""
    for candidate in (RunPaths(run_dir).best_checkpoint, Path(recorded) if recorded else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None
