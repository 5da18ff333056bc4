"""The end of a distributed process: a rank leaves the process group its command joined before
Python exits.

Lightning creates the default process group and destroys it at exit only for NCCL (an atexit
handler). A gloo group, DDP on CPUs, was left to the interpreter's finalization, where its worker
threads could still run: about one 2-rank CPU fit in ten then aborted a rank after it had
finished ("terminate called without an active exception", signal 6), so srun marked a completed
job FAILED and torchrun sent SIGTERM to rank zero while it was still writing the run's record.
"""

from __future__ import annotations

import torch.distributed


def has_process_group() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def leave_process_group() -> None:
    """Destroy this process's default process group, if it has one.

    Not collective for gloo (each rank frees its own connections), so a rank that is done may
    leave while rank zero still writes; for NCCL it is what Lightning's own exit handler does."""
    if has_process_group():
        torch.distributed.destroy_process_group()
