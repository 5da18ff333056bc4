"""Where a process runs: its rank, the run it joins, the packages and commit it runs with.

How the processes of one run learn which run directory they share is decided here, and only
here: rank zero resolves the run and `share_run_dir` hands it to the DDP processes Lightning
starts from it (an environment variable they inherit); inside a SLURM job every task instead
finds the run its job marked (`lit_dl.run.slurm`). `Environment.read` is the one reader.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lit_dl.run import slurm

# Rank zero's run directory, inherited by the DDP processes Lightning starts from it.
RUN_DIR_ENV = "LIT_DL_RUN_DIR"
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


@dataclass(frozen=True)
class Environment:
    """What the environment says about the run a process works in."""

    rank: int = 0
    inherited_run_dir: Path | None = None
    slurm_job: str | None = None  # `<job id>:<config hash>` inside a SLURM job
    slurm_restarted: bool = False

    @classmethod
    def read(cls, command: str, config_text: str = "", env: Mapping[str, str] = os.environ) -> Environment:
        rank = process_rank(env)
        inherited = env.get(RUN_DIR_ENV) if rank != 0 else None
        return cls(
            rank=rank,
            inherited_run_dir=Path(inherited) if inherited else None,
            slurm_job=slurm.job_key(env, config_text) if command == "fit" else None,
            slurm_restarted=slurm.restarted(env),
        )


def share_run_dir(run_dir: Path, environment: Environment) -> None:
    """Rank zero tells the processes it starts (DDP) and its requeued job which run is theirs."""
    if environment.rank != 0:
        return
    os.environ[RUN_DIR_ENV] = str(run_dir)
    if environment.slurm_job and run_dir.is_dir():
        slurm.mark_job(run_dir, environment.slurm_job)


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
