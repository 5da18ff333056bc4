"""SLURM requeue: a requeued job runs its script again from the top, with the same job id.

The run directory a job's fit made is marked with the job id and a hash of the config, so the
rerun finds it and continues it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from lit_dl.run.layout import RunPaths, latest_checkpoint, run_dirs


def job_key(env: Mapping[str, str], config_text: str) -> str | None:
    """`<job id>:<hash of the config>` inside a SLURM job, None outside one."""
    if "SLURM_ARRAY_JOB_ID" in env:
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
    else:
        job = env.get("SLURM_JOB_ID")
    if not job:
        return None
    return f"{job}:{hashlib.sha1(config_text.encode()).hexdigest()[:12]}"


def restarted(env: Mapping[str, str]) -> bool:
    return int(env.get("SLURM_RESTART_COUNT", 0) or 0) > 0


def mark_job(run_dir: Path, key: str) -> None:
    RunPaths(run_dir).slurm_job.write_text(key + "\n")


def job_run(experiment_dir: Path, key: str, with_checkpoint: bool = False) -> Path | None:
    """The newest run of the experiment this job (with this config) marked; with
    `with_checkpoint`, only one that saved a checkpoint to continue from."""
    for run_dir in run_dirs(experiment_dir):
        marker = RunPaths(run_dir).slurm_job
        if marker.is_file() and marker.read_text().strip() == key and (not with_checkpoint or latest_checkpoint(run_dir)):
            return run_dir
    return None
