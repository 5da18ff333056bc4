"""lit-dl's benchmark: every section, measured on this machine, written to `benchmarks/`.

    python -m scripts.bench                                  # everything (about 10 minutes on 2 CPU cores)
    python -m scripts.bench --only overhead,startup --repeats 3
    python scripts/bench/run.py --tiny --out /tmp/b          # every piece on tiny sizes (a dry run)
    python -m scripts.bench --only mutation                  # a section run on request only (over an hour)

Writes `results.json` (every figure, the machine, the versions) and `README.md` (the tables, with
the goals beside the figures). The GPU checks are `scripts/bench/gpu.sh`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `scripts.bench` importable from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.bench.common import REPO, fmt, load_average, log, machine, met, table  # noqa: E402

# Section modules of scripts/bench/, in the order they run; one that is not there is skipped.
SECTIONS = ("overhead", "whole_run", "throughput", "startup", "data", "memory", "cifar10_fast", "quality", "export", "search")
ON_REQUEST = ("mutation",)  # run only when --only names them: too long for the whole benchmark
BENCH_MINUTES_GOAL = 10.0
TINY = {  # --tiny: every piece runs, in seconds, on sizes that measure nothing
    "repeats": 1, "overhead_steps": 12, "overhead_cases": "mlp", "startup_runs": 1, "budget": 0.05, "zoo": "MLP,GRU",
    "cifar_images": 100, "array_rows": 1000, "sequences": 200, "cifar_smoke_images": 50, "quickstart_epochs": 1,
}


def available_sections(on_request: bool = False) -> tuple[str, ...]:
    names = SECTIONS + ON_REQUEST if on_request else SECTIONS
    return tuple(s for s in names if importlib.util.find_spec(f"scripts.bench.{s}") is not None)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help=f"comma-separated sections of {', '.join(available_sections(on_request=True))}")
    parser.add_argument("--tiny", action="store_true", help="every piece on tiny sizes: a dry run, in seconds")
    parser.add_argument("--report-only", action="store_true", help="measure nothing: rewrite README.md from results.json in --out")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (the overhead section: 1)")
    parser.add_argument("--repeats", type=int, default=5, help="overhead: rounds per case")
    parser.add_argument("--overhead-cases", default="mlp,cnn,gru")
    parser.add_argument("--overhead-steps", type=int, default=None, help="overhead: steps per run (default: the case's)")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--budget", type=float, default=1.5, help="seconds per throughput / data measurement")
    parser.add_argument("--zoo", default="", help="throughput: comma-separated nets (default: all)")
    parser.add_argument("--cifar-images", type=int, default=2000, help="data: images in the CIFAR-10 copy")
    parser.add_argument("--array-rows", type=int, default=20000, help="data: rows of the array data")
    parser.add_argument("--sequences", type=int, default=20000, help="data: sequences generated per problem")
    parser.add_argument("--cifar-smoke-images", type=int, default=320, help="cifar10_fast: images of the end-to-end run")
    parser.add_argument("--quickstart-epochs", type=int, default=None, help="memory: epochs (default: the quickstart's)")
    options = parser.parse_args(argv)
    if options.tiny:
        for name, value in TINY.items():
            if parser.get_default(name) == getattr(options, name):
                setattr(options, name, value)
    options.sections = [s.strip() for s in (options.only or ",".join(available_sections())).split(",") if s.strip()]
    unknown = sorted(set(options.sections) - set(available_sections(on_request=True)))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(available_sections(on_request=True))}")
    return options


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parse(argv)
    if options.report_only:
        results = json.loads((options.out / "results.json").read_text())
        (options.out / "README.md").write_text(markdown(results))
        return results
    import torch

    torch.set_num_threads(options.threads)
    start = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "load_before": load_average(), "tiny": options.tiny, "sections": {}}
    with tempfile.TemporaryDirectory(prefix="lit-dl-bench-") as tmp:
        for name in options.sections:
            section_start = time.perf_counter()
            workdir = Path(tmp) / name
            workdir.mkdir()
            results["sections"][name] = importlib.import_module(f"scripts.bench.{name}").run(options, workdir)
            results.setdefault("section_s", {})[name] = time.perf_counter() - section_start
    results["load_after"] = load_average()
    results["elapsed_s"] = time.perf_counter() - start
    results["all_sections"] = set(options.sections) == set(available_sections())
    measured = {"git": results["machine"]["git"], "date": results["machine"]["date"], "load": [results["load_before"], results["load_after"]]}
    results["measured"] = {name: measured for name in results["sections"]}
    keep_earlier_sections(results, options.out / "results.json", options.tiny)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (options.out / "README.md").write_text(markdown(results))
    log(f"wrote {options.out / 'results.json'} and {options.out / 'README.md'} in {results['elapsed_s'] / 60:.1f} min")
    return results


def earlier_sections(results: dict[str, Any]) -> list[str]:
    """A line naming the sections measured in an earlier run than this one, and when."""
    now = results["machine"]["git"]
    earlier = [f"{name} ({m['git']}, {m['date'][:10]}, load {fmt(m['load'][0])})" for name, m in results.get("measured", {}).items()
               if m["git"] != now or m["date"] != results["machine"]["date"]]
    return ["", "Sections measured in other runs than this one (commit, date, load average before): " + ", ".join(earlier) + "."] if earlier else []


def keep_earlier_sections(results: dict[str, Any], earlier: Path, tiny: bool) -> None:
    """A run of some sections (`--only`) keeps the other sections of the results it replaces, each
    with when and at which commit it was measured; a run of them all keeps the sections run on
    request only (ON_REQUEST), which it does not measure."""
    if tiny or not earlier.is_file():
        return
    old = json.loads(earlier.read_text())
    if old.get("tiny"):
        return
    known = available_sections(on_request=True)
    keep = set(ON_REQUEST) if results["all_sections"] else set(known)
    when = {"git": old["machine"]["git"], "date": old["machine"]["date"], "load": [old.get("load_before"), old.get("load_after")]}
    for name, section in old.get("sections", {}).items():
        if name not in results["sections"] and name in keep:
            results["sections"][name] = section
            results["measured"][name] = old.get("measured", {}).get(name, when)
    results["sections"] = {name: results["sections"][name] for name in known if name in results["sections"]}


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    rows = []
    for name, result in results["sections"].items():
        rows += importlib.import_module(f"scripts.bench.{name}").goals(result)
    if results["all_sections"]:
        minutes = results["elapsed_s"] / 60
        rows.append(("`python -m scripts.bench` on this machine", f"< {BENCH_MINUTES_GOAL:.0f} min", f"{minutes:.1f} min",
                     met(minutes < BENCH_MINUTES_GOAL)))
    lines = [
        "# lit-dl benchmarks",
        "",
        "Written by `python -m scripts.bench` (one module per section in `scripts/bench/`); every figure is in "
        "`results.json`. GPU checks: `scripts/bench/gpu.sh` writes `gpu.md` and `gpu.json`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {fmt(m['memory_gib'], 1)} GiB, GPU: {m['gpu'] or 'none'}; {m['os']}; "
        f"Python {m['python']}, torch {m['torch']}, lightning {m['lightning']}; lit-dl {m['git']}; {m['date']}. "
        f"Load average (1 min) before: {fmt(results['load_before'])}, after: {fmt(results['load_after'])}. "
        "The machine is shared with other work, so figures move by several per cent from run to run.",
        *earlier_sections(results),
        "",
        "## Goals",
        "",
        *table(["goal", "target", "measured", ""], rows),
    ]
    for name, result in results["sections"].items():
        lines += ["", *importlib.import_module(f"scripts.bench.{name}").markdown(result)]
    lines += ["", f"The benchmark took {results['elapsed_s'] / 60:.1f} minutes."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
