"""What a run records about where it ran: process rank, package versions, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path

PACKAGES = ("lit-dl", "torch", "lightning", "torchmetrics", "torchvision", "jsonargparse", "wandb")


def process_rank(env: Mapping[str, str] = os.environ) -> int:
    """0 for the first process of a (possibly distributed) run, non-zero for the others, read
    before any process group exists: torchrun's RANK, the LOCAL_RANK/NODE_RANK Lightning gives
    the processes it starts, srun's SLURM_PROCID."""
    if "RANK" in env:
        return int(env["RANK"])
    if int(env.get("LOCAL_RANK", 0)) or int(env.get("NODE_RANK", 0)):
        return max(int(env.get("LOCAL_RANK", 0)), int(env.get("NODE_RANK", 0)))
    return int(env.get("SLURM_PROCID", 0))


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in PACKAGES:
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
