"""`lit-dl sweep GRID.yaml --slurm [SBATCH FLAGS]`: the trials as one SLURM job array.

Array task i runs trial i as a normal `lit-dl fit` under `srun` (several tasks per trial make it
a DDP run: the trial gets --trainer.devices and --trainer.num_nodes from SLURM), with the same
requeue as scripts/slurm/ddp.sbatch: SIGUSR1 90 s before the time limit, and a requeued task
continues its own run directory. What the array needs lives in the sweep's record
(`<root>/<name>/sweep_<k>/`): array.sbatch, trial_<i>.args (the trial's command, one argument a
line) and trial_<i>.log (SLURM's output of that task, appended to on requeue).

`lit-dl sweep --collect SWEEP_DIR` reads the trials' logs and run directories into trials.json
and prints the compare table; the sweep does that itself when it waits for the array.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from lit_dl.errors import UserError

ARRAY_SCRIPT = """\
#!/bin/bash
# lit-dl sweep {name}: array task i runs trial i, the command in trial_<i>.args (one argument a line).
#SBATCH --export=ALL
#SBATCH --requeue
#SBATCH --signal=USR1@90
#SBATCH --open-mode=append
set -euo pipefail
mapfile -t command < {record}/trial_${{SLURM_ARRAY_TASK_ID}}.args
nodes=${{SLURM_JOB_NUM_NODES:-${{SLURM_NNODES:-1}}}}
tasks=${{SLURM_NTASKS:-1}}
tasks_per_node=${{SLURM_NTASKS_PER_NODE:-$((tasks / nodes))}}
# SLURM 22.05's srun does not inherit --cpus-per-task from sbatch.
if [[ -n "${{SLURM_CPUS_PER_TASK:-}}" ]]; then export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK; fi
export OMP_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}
echo "$(date -Is) job ${{SLURM_JOB_ID}} (array task ${{SLURM_ARRAY_TASK_ID}}) restart ${{SLURM_RESTART_COUNT:-0}}"
srun "${{command[@]}}" --trainer.devices "$tasks_per_node" --trainer.num_nodes "$nodes"
"""


def submit(record: Path, name: str, commands: dict[int, list[str]], sbatch_flags: str, max_concurrent: int | None) -> str:
    """Write the array's files into the record and submit the trials in `commands`; the job id."""
    for index, command in commands.items():
        if any("\n" in argument for argument in command):
            raise UserError(f"trial {index + 1} has a value with a line break; SLURM trials take one-line values")
        (record / f"trial_{index}.args").write_text("".join(argument + "\n" for argument in command))
    script = record / "array.sbatch"
    script.write_text(ARRAY_SCRIPT.format(name=name, record=shlex.quote(str(record.resolve()))))
    indices = ",".join(str(i) for i in sorted(commands))
    array = f"{indices}%{max_concurrent}" if max_concurrent else indices
    sbatch = [
        "sbatch", "--parsable", f"--array={array}", f"--job-name={name}",
        f"--output={record.resolve()}/trial_%a.log", *shlex.split(sbatch_flags), str(script),
    ]
    try:
        done = subprocess.run(sbatch, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise UserError("sbatch not found: --slurm submits the trials with SLURM's sbatch; run it on a SLURM login node") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise UserError(f"sbatch refused the sweep's job array: {reason}; check the flags given to --slurm")
    return done.stdout.strip().split(";")[0]


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


def collect(record: Path, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each trial's run directory and outcome, read from its log and its results.json."""
    for trial in trials:
        if trial.get("status") == "ok":
            continue
        log = record / f"trial_{trial['index']}.log"
        trial["log"] = str(log)
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.is_file() else []
        run_dir = next((line for line in reversed(lines) if (Path(line) / "config.yaml").is_file()), None)
        status = _run_status(Path(run_dir)) if run_dir else None
        trial["run_dir"] = run_dir
        if status == "completed":
            trial["status"], trial["error"] = "ok", None
        elif not lines:
            trial["status"], trial["error"] = "pending", "not started"
        else:
            errors = [line for line in lines if line.startswith("lit-dl: error:")]
            trial["status"] = "failed"
            trial["error"] = (errors or lines)[-1].removeprefix("lit-dl: error: ")
    return trials


def _run_status(run_dir: Path) -> str | None:
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return None
    # A results.json without a status is from before lit-dl wrote one: finished, since it exists.
    return results.get("status", "completed")
