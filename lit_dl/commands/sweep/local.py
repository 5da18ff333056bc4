"""Running a sweep's workers on this machine: one in this process, or `--workers N` processes
that share the study (each takes the next queued trial when it is free)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lit_dl.commands.sweep import worker

WORKER_MODULE = "lit_dl.commands.sweep"


def run_workers(record: Path, workers: int) -> None:
    """Until every queued trial has been run; SystemExit(130) when stopped by Ctrl-C or SIGTERM."""
    if workers <= 1:
        try:
            worker.work(record)
        except KeyboardInterrupt:
            _stopped(record)
        return
    processes = [
        subprocess.Popen([sys.executable, "-m", WORKER_MODULE, str(record), "--seed_offset", str(i), "--label", f"worker {i + 1}"])
        for i in range(workers)
    ]
    try:
        codes = [process.wait() for process in processes]
    except KeyboardInterrupt:  # the workers got the Ctrl-C too: they stop their fits and queue them again
        for process in processes:
            process.wait()
        _stopped(record)
        return
    if any(code == 130 for code in codes):
        _stopped(record)


def _stopped(record: Path) -> None:
    print(f"\nsweep stopped; continue it with: lit-dl sweep --resume {record}", flush=True)
    raise SystemExit(130)
