"""The run directory: `<root>/<experiment>/version_<n>/`, and what a finished run leaves in it."""

from __future__ import annotations

import json
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from lit_dl.errors import UserError

VERSION_PATTERN = re.compile(r"^version_(\d+)$")


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


def run_dir_of_checkpoint(ckpt_path: Path) -> Path | None:
    """`.../version_3` for `.../version_3/checkpoints/x.ckpt`; None outside a run directory."""
    parent = ckpt_path.resolve().parent
    if parent.name == "checkpoints" and VERSION_PATTERN.match(parent.parent.name):
        return parent.parent
    return None


def find_checkpoint(experiment_dir: Path, which: str) -> Path:
    """The `last` or `best` checkpoint of the newest run of an experiment that has one."""
    for version in reversed(versions(experiment_dir)):
        checkpoints = experiment_dir / f"version_{version}" / "checkpoints"
        candidate = checkpoints / f"{which}.ckpt"
        if which == "best" and not candidate.exists():
            results = experiment_dir / f"version_{version}" / "results.json"
            if results.exists():
                best = json.loads(results.read_text()).get("best_checkpoint")
                candidate = Path(best) if best else candidate
        if candidate.exists():
            return candidate
    raise UserError(
        f"no run of '{experiment_dir.name}' under {experiment_dir.parent} has a {which} checkpoint; "
        "train one first, or pass --ckpt_path PATH"
    )


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("lit-dl", "torch", "lightning", "torchmetrics", "torchvision", "jsonargparse", "wandb"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit the code ran from (with `-dirty` for uncommitted changes), None outside git."""
    try:
        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
            ).stdout.strip()

        commit = git("rev-parse", "HEAD")
        return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_results(run_dir: Path, results: dict[str, Any]) -> Path:
    """Merge `results` into `run_dir/results.json` (a later `test` adds to what `fit` wrote)."""
    path = run_dir / "results.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(results)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)
    return path
