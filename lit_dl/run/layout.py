"""Where runs live: `<root>/<experiment>/version_<n>/`, and how to find a run's checkpoints."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

VERSION_PATTERN = re.compile(r"^version_(\d+)$")
CHECKPOINTS = "checkpoints"
LR_FIND_FILE = "lr_find.json"  # what `lit-dl lr-find` leaves in its version
DEFAULT_ROOT_DIR = "runs"  # trainer.default_root_dir unless the config says otherwise


def versions(experiment_dir: Path) -> list[int]:
    """The version numbers already present, in increasing order."""
    if not experiment_dir.is_dir():
        return []
    found = (VERSION_PATTERN.match(p.name) for p in experiment_dir.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def next_version(experiment_dir: Path) -> int:
    """A version number no earlier run has used: runs never overwrite each other."""
    existing = versions(experiment_dir)
    return existing[-1] + 1 if existing else 0


def newest_run(experiment_dir: Path) -> Path | None:
    """The newest version that trains: an `lr-find` leaves a version with only its search."""
    for version in reversed(versions(experiment_dir)):
        run_dir = experiment_dir / f"version_{version}"
        if not (run_dir / LR_FIND_FILE).is_file():
            return run_dir
    return None


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
        run_dir = experiment_dir / f"version_{version}"
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
        if parent.name == CHECKPOINTS and VERSION_PATTERN.match(parent.parent.name):
            return parent.parent
    return None


def run_dir_of_config(config_path: Path) -> Path | None:
    """`.../quickstart/version_3` for that run's own `config.yaml`; None for any other file."""
    path = Path(os.path.normpath(config_path))
    if path.name == "config.yaml" and VERSION_PATTERN.match(path.parent.name):
        return path.parent
    return None


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest of a run's `last.ckpt` and any `hpc_ckpt_<n>.ckpt` a SLURM requeue left."""
    checkpoints = run_dir / CHECKPOINTS
    candidates = [checkpoints / "last.ckpt", *checkpoints.glob("hpc_ckpt_*.ckpt")]
    existing = [(path.stat().st_mtime, path) for path in candidates if path.is_file()]
    return max(existing)[1] if existing else None


def best_checkpoint(run_dir: Path, recorded: str | None = None) -> Path | None:
    """A run's `best.ckpt`, or the best checkpoint its results.json recorded."""
    for candidate in (run_dir / CHECKPOINTS / "best.ckpt", Path(recorded) if recorded else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None
