"""Memory: peak resident memory and wall time of the quickstart run, on the CPU."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.bench.common import ENV, REPO, log, met

PEAK_RSS_GOAL_GIB = 1.5
# The peak resident set of this process image: VmHWM. (`getrusage(...).ru_maxrss` would not do:
# Linux carries the parent's peak across fork and exec into the child's.)
MEMORY_PROBE = """
import json, resource, sys, time
from lit_dl.cli import main
start = time.perf_counter()
main(sys.argv[2:])
wall = time.perf_counter() - start
try:
    status = open("/proc/self/status").read().splitlines()
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
open(sys.argv[1], "w").write(json.dumps({"peak_rss_kib": peak_kib, "wall_s": wall}))
"""


def run(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    log("memory: quickstart")
    out = workdir / "memory.json"
    extra = ["--trainer.max_epochs", str(options.quickstart_epochs)] if options.quickstart_epochs else []
    args = ["fit", "--config", str(REPO / "experiments" / "quickstart.yaml"), "--trainer.default_root_dir", str(workdir / "runs"), *extra]
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(out), *args], cwd=REPO, env=ENV, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"quickstart failed:\n{result.stderr[-3000:]}")
    measured = json.loads(out.read_text())
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    results = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").is_file() else {}
    return {
        "command": "lit-dl " + " ".join(["fit", "--config", "experiments/quickstart.yaml", *extra]),
        "peak_rss_gib": measured["peak_rss_kib"] / 2**20,
        "wall_s": measured["wall_s"],
        "test_acc": (results.get("test") or {}).get("test/acc"),
    }


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [("Memory: peak RSS of the quickstart run, CPU", f"< {PEAK_RSS_GOAL_GIB} GiB",
             f"{result['peak_rss_gib']:.2f} GiB", met(result["peak_rss_gib"] < PEAK_RSS_GOAL_GIB))]


def markdown(result: dict[str, Any]) -> list[str]:
    accuracy = "n/a" if result["test_acc"] is None else f"{result['test_acc']:.3f}"
    return ["## Memory", "", f"`{result['command']}`: peak resident memory {result['peak_rss_gib']:.2f} GiB, "
            f"{result['wall_s']:.1f} s in all (start-up, training, test), test accuracy {accuracy}."]
