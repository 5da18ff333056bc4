"""The run directory: `<root>/<experiment>/version_<n>/`, and what a finished run leaves in it."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Callable
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


_reserved: list[Path] = []


def reserve_version(experiment_dir: Path) -> int:
    """Create the next `version_<n>` folder and return n; two runs started at once get two."""
    created = [d for d in (experiment_dir, *experiment_dir.parents) if not d.exists()]
    experiment_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(experiment_dir)
    while True:
        try:
            (experiment_dir / f"version_{version}").mkdir()
            _reserved.extend([*reversed(created), experiment_dir / f"version_{version}"])
            return version
        except FileExistsError:
            version += 1


def release_empty_reservations() -> None:
    """Remove the folders this process created for runs that a failed start left empty."""
    while _reserved:
        try:
            _reserved.pop().rmdir()
        except OSError:
            pass  # not empty (or gone): it holds something of a run


def process_rank() -> int:
    """0 for the first process of a (possibly distributed) run, non-zero for the others, read
    before any process group exists: torchrun's RANK, the LOCAL_RANK/NODE_RANK Lightning gives
    the processes it starts, srun's SLURM_PROCID."""
    env = os.environ
    if "RANK" in env:
        return int(env["RANK"])
    if int(env.get("LOCAL_RANK", 0)) or int(env.get("NODE_RANK", 0)):
        return max(int(env.get("LOCAL_RANK", 0)), int(env.get("NODE_RANK", 0)))
    return int(env.get("SLURM_PROCID", 0))


def run_dir_of_checkpoint(ckpt_path: Path) -> Path | None:
    """`.../version_3` for `.../version_3/checkpoints/x.ckpt`; None outside a run directory.

    The path keeps the spelling it was given (relative stays relative)."""
    for path in (Path(os.path.normpath(ckpt_path)), Path(ckpt_path).resolve()):
        parent = path.parent
        if parent.name == "checkpoints" and VERSION_PATTERN.match(parent.parent.name):
            return parent.parent
    return None


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest of a run's `last.ckpt` and the `hpc_ckpt_<n>.ckpt` SLURM requeues leave."""
    checkpoints = run_dir / "checkpoints"
    candidates = [checkpoints / "last.ckpt", *checkpoints.glob("hpc_ckpt_*.ckpt")]
    existing = [(path.stat().st_mtime, path) for path in candidates if path.is_file()]
    return max(existing)[1] if existing else None


# -- SLURM requeue ------------------------------------------------------------------------------
# A requeued job runs its script again from the top, with the same job id. The run directory a
# job's fit made is marked with the job id and the config, so the rerun finds it and continues.
SLURM_JOB_FILE = "slurm_job"


def slurm_job_key(config_text: Callable[[], str]) -> str | None:
    """`<job id>:<hash of the config>` inside a SLURM job, None outside one."""
    env = os.environ
    job = f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}" if "SLURM_ARRAY_JOB_ID" in env else env.get("SLURM_JOB_ID")
    if not job:
        return None
    return f"{job}:{hashlib.sha1(config_text().encode()).hexdigest()[:12]}"


def slurm_restarted() -> bool:
    return int(os.environ.get("SLURM_RESTART_COUNT", 0) or 0) > 0


def mark_slurm_job(run_dir: Path, key: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SLURM_JOB_FILE).write_text(key + "\n")


def find_slurm_job_run(experiment_dir: Path, key: str) -> Path | None:
    """The newest run of the experiment this job (with this config) started, if it has a checkpoint."""
    for version in reversed(versions(experiment_dir)):
        run_dir = experiment_dir / f"version_{version}"
        marker = run_dir / SLURM_JOB_FILE
        if marker.is_file() and marker.read_text().strip() == key and latest_checkpoint(run_dir):
            return run_dir
    return None


def find_checkpoint(experiment_dir: Path, which: str) -> Path:
    """The `last` or `best` checkpoint of the newest run of an experiment that has one.

    `last` is the newest of `last.ckpt` and a SLURM requeue's `hpc_ckpt_<n>.ckpt`."""
    for version in reversed(versions(experiment_dir)):
        checkpoints = experiment_dir / f"version_{version}" / "checkpoints"
        candidate = checkpoints / f"{which}.ckpt"
        if which == "last":
            candidate = latest_checkpoint(checkpoints.parent) or candidate
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
