"""`lit-dl sweep SWEEP.yaml --slurm [SBATCH FLAGS]`: the sweep's workers as one SLURM job array.

Each array task is a worker (lit_dl.commands.sweep.worker) that takes queued trials from the study
until none is left, and runs each fit under `srun` (several tasks per array task make each trial
a DDP run: the fit gets --trainer.devices and --trainer.num_nodes from SLURM). The requeue is
that of scripts/slurm/ddp.sbatch: SIGUSR1 90 s before the time limit stops the fit (last.ckpt is
saved) and requeues the task; the requeued task's worker finds the trial its predecessor left
running and continues its run. The array's files live in the sweep's record: array.sbatch,
worker_<task>.log (SLURM's output of each task, appended to on requeue) and trial_<n>.log.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

from lit_dl.errors import UserError

ARRAY_SCRIPT = """\
#!/bin/bash
# lit-dl sweep {name}: each array task is a worker taking trials from the study in this folder.
#SBATCH --export=ALL
#SBATCH --requeue
#SBATCH --signal=USR1@90
#SBATCH --open-mode=append
set -euo pipefail
nodes=${{SLURM_JOB_NUM_NODES:-${{SLURM_NNODES:-1}}}}
tasks=${{SLURM_NTASKS:-1}}
tasks_per_node=${{SLURM_NTASKS_PER_NODE:-$((tasks / nodes))}}
# SLURM 22.05's srun does not inherit --cpus-per-task from sbatch.
if [[ -n "${{SLURM_CPUS_PER_TASK:-}}" ]]; then export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK; fi
export OMP_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}
echo "$(date -Is) job ${{SLURM_JOB_ID}} (array task ${{SLURM_ARRAY_TASK_ID}}) restart ${{SLURM_RESTART_COUNT:-0}}"
{python} -m lit_dl.commands.sweep {record} --seed_offset "$SLURM_ARRAY_TASK_ID" --label "task $SLURM_ARRAY_TASK_ID" \\
    --launcher srun -- --trainer.devices "$tasks_per_node" --trainer.num_nodes "$nodes"
"""


def submit(record: Path, name: str, tasks: int, sbatch_flags: str, max_concurrent: int | None) -> str:
    """Write the array script into the record and submit `tasks` workers; the job id."""
    script = record / "array.sbatch"
    script.write_text(ARRAY_SCRIPT.format(name=name, record=shlex.quote(str(record.resolve())), python=shlex.quote(sys.executable)))
    array = f"0-{tasks - 1}%{max_concurrent}" if max_concurrent else f"0-{tasks - 1}"
    sbatch = [
        "sbatch", "--parsable", f"--array={array}", f"--job-name={name}",
        f"--output={record.resolve()}/worker_%a.log", *shlex.split(sbatch_flags), str(script),
    ]
    try:
        done = subprocess.run(sbatch, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise UserError("sbatch not found: --slurm submits the workers with SLURM's sbatch; run it on a SLURM login node") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise UserError(f"sbatch refused the sweep's job array: {reason}; check the flags given to --slurm")
    return done.stdout.strip().split(";")[0]


def running(job_id: str | None) -> bool:
    """Whether any task of the array is still pending or running."""
    if not job_id:
        return False
    try:
        listed = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%i"], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        return False
    return listed.returncode == 0 and bool(listed.stdout.strip())


def wait(job_id: str, poll_seconds: float = 5.0, patience: int = 60) -> None:
    """Until no task of the array is pending or running (a requeued task is waited for too)."""
    failures = 0
    while True:
        listed = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%i"], capture_output=True, text=True, timeout=120)
        if listed.returncode == 0 or "Invalid job id" in listed.stderr:
            if not listed.stdout.strip():
                return
            failures = 0
        else:
            failures += 1  # slurmctld busy or restarting: ask again, for a while
            if failures >= patience:
                reason = (listed.stderr.strip().splitlines() or [f"exit code {listed.returncode}"])[-1]
                raise UserError(f"squeue keeps failing ({reason}); the job array {job_id} may still run: "
                                "collect its results later with lit-dl sweep --collect SWEEP_DIR")
        time.sleep(poll_seconds)
