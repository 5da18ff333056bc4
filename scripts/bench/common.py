"""What every section shares: where things are, timing, the machine, table formatting.

Imports no Lightning (the start-up section times processes that must not pay for it here)."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parents[1]
# Child processes: offline W&B, quiet warnings, and this checkout's lit_dl and scripts first.
ENV = {
    **os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONWARNINGS": "ignore",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
}


# `import lightning` sets PYTORCH_NVML_BASED_CUDA_CHECK=1 (then every CPU AdamW step asks NVML
# whether CUDA is there, some 60 us). A hand-written loop's process never imports Lightning, so
# its runs get the variable as the user had it, recorded here before anything imports Lightning.
NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
USER_NVML_CHECK = os.environ.get(NVML_CHECK)


@contextlib.contextmanager
def environment_variable(name: str, value: str | None):
    """While active: the variable set to `value` (unset where None), then as it was."""
    saved = os.environ.get(name)
    _set(name, value)
    try:
        yield
    finally:
        _set(name, saved)


def _set(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stamp() -> tuple[float, float]:
    """Wall seconds and the calling thread's CPU seconds, now. The CPU time of the training
    thread barely moves with load from other processes on a shared machine."""
    return time.perf_counter(), time.thread_time()


def seconds(work: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    start = time.perf_counter()
    work(*args, **kwargs)
    return time.perf_counter() - start


def rate(step: Callable[[], Any], budget_s: float, least: int = 2, most: int = 10**6, sync: Callable[[], Any] = lambda: None) -> float:
    """Calls of `step` per second: one warm-up call, then calls until `budget_s` has passed
    (at least `least`, at most `most`)."""
    step()
    sync()
    count, start = 0, time.perf_counter()
    while count < least or (count < most and time.perf_counter() - start < budget_s):
        step()
        count += 1
    sync()
    return count / (time.perf_counter() - start)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def run_once(command: list[str], cwd: Path = REPO, env: dict[str, str] | None = None) -> float:
    """Wall seconds of one execution of `command`, which must succeed."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env or ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed


def python_module(module: str, *args: str, env: dict[str, str] | None = None, timeout: float | None = None) -> str:
    """Run `python -m module args` from the repository; returns its stdout, raises with its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=env or ENV, capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"python -m {module} {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _first_value(path: str, key: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return None


def machine() -> dict[str, Any]:
    import lightning
    import torch

    memory = _first_value("/proc/meminfo", "MemTotal")
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _first_value("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory.split()[0]) / 2**20, 1) if memory else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "git": git + ("-dirty" if dirty else ""),
    }


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    """A markdown table's lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines
