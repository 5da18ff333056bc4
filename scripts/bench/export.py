"""Export: CPU latency of an exported ONNX model in ONNX Runtime against the same model in eager
PyTorch, for the MLP, ResNet-18 and the GRU at their default sizes, at batch 1 and batch 64.

    python scripts/bench/export.py                    # writes benchmarks/export.md and export.json
    python scripts/bench/export.py --tiny --out /tmp/e   # every piece on tiny sizes: a dry run
    python -m scripts.bench --only export             # as a section of the whole benchmark

Like for like: one model, as `lit_dl.load_run` gives it (the net built by a Classifier, so a conv
net keeps its channels-last weights, between an identity preprocessing and class probabilities),
in eager PyTorch under `torch.inference_mode`, and exported by `lit-dl export`'s own code
(`lit_dl.export.check.export_checked`: written, read back and checked) then run in ONNX Runtime's
CPU provider. One thread for both (torch.set_num_threads(1); ONNX Runtime's intra- and inter-op
pools of 1), the same input tensor, outputs compared. Latency: the median of every timed call,
calls timed for `--budget` seconds per round after a warm-up call, rounds alternating between the
two runtimes. Goal: ONNX Runtime no slower than eager PyTorch in each case.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a file: make `scripts.bench` importable from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.bench.common import REPO, fmt, load_average, log, machine, met, table  # noqa: E402

BATCHES = (1, 64)
GOAL_RATIO = 1.0  # ONNX Runtime latency / eager latency


def cases(tiny: bool) -> list[tuple[str, Callable, tuple[int, ...], int, dict[str, Any]]]:
    """(name, net class, input shape, outputs, init args): the README zoo table's defaults."""
    from lit_dl import nets

    if tiny:
        return [("MLP", nets.MLP, (1, 8, 8), 10, {"hidden_dims": (16,)}),
                ("ResNet-18", nets.ResNet18, (3, 8, 8), 10, {}),
                ("GRU", nets.GRU, (6, 8), 2, {"hidden_size": 8, "num_layers": 1})]
    return [("MLP", nets.MLP, (1, 28, 28), 10, {}),
            ("ResNet-18", nets.ResNet18, (3, 32, 32), 10, {}),
            ("GRU", nets.GRU, (50, 8), 2, {})]


def user_model(make: Callable, shape: tuple[int, ...], outputs: int, init_args: dict[str, Any]):
    """The model `lit_dl.load_run` gives for a run of this net (fresh weights: latency only)."""
    from lit_dl.data.inputs import RawInputs
    from lit_dl.export.model import ClassProbabilities, UserModel
    from lit_dl.tasks import Classifier

    task = Classifier(net=make(list(shape), outputs, **init_args), num_outputs=outputs)
    return UserModel(RawInputs(shape), task.net, ClassProbabilities()).eval()


def latencies(call: Callable[[], Any], budget_s: float) -> list[float]:
    """Seconds per call, for every call in `budget_s` after one warm-up call (at least 3)."""
    call()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < budget_s:
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return times


def measure_case(name: str, make: Callable, shape: tuple[int, ...], outputs: int, init_args: dict[str, Any],
                 options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import onnxruntime
    import torch

    from lit_dl.export.check import export_checked

    torch.manual_seed(0)
    model = user_model(make, shape, outputs, init_args)
    inputs = torch.randn(64, *shape, generator=torch.Generator().manual_seed(1))
    started = time.perf_counter()
    checked = export_checked("onnx", model, inputs, workdir / f"{name}.onnx", {"net": name},
                             fresh_model=lambda: user_model(make, shape, outputs, init_args))
    export_s = time.perf_counter() - started
    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = session_options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(checked.path), session_options, providers=["CPUExecutionProvider"])
    result: dict[str, Any] = {"export_s": export_s, "max_abs_difference": checked.max_difference, "batches": {}}
    for batch in BATCHES:
        x = inputs[:batch].contiguous()
        feed = {"inputs": x.numpy()}

        def eager() -> Any:
            with torch.inference_mode():
                return model(x)

        samples: dict[str, list[float]] = {"eager": [], "onnxruntime": []}
        for _ in range(options.repeats):  # rounds: a slow spell of the machine hits both alike
            samples["eager"] += latencies(eager, options.budget)
            samples["onnxruntime"] += latencies(lambda: session.run(None, feed), options.budget)
        median_ms = {runtime: 1000 * statistics.median(times) for runtime, times in samples.items()}
        result["batches"][str(batch)] = {
            "median_ms": median_ms, "calls": {runtime: len(times) for runtime, times in samples.items()},
            "ratio": median_ms["onnxruntime"] / median_ms["eager"],
        }
        log(f"export: {name} batch {batch}: eager {median_ms['eager']:.3f} ms, onnxruntime {median_ms['onnxruntime']:.3f} ms")
    return result


def run(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        measured = {name: measure_case(name, make, shape, outputs, init_args, options, workdir)
                    for name, make, shape, outputs, init_args in cases(options.tiny)}
    finally:
        torch.set_num_threads(threads)
    return {"threads": 1, "rounds": options.repeats, "budget_s": options.budget, "cases": measured}


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, case in result["cases"].items():
        for batch, row in case["batches"].items():
            ms = row["median_ms"]
            rows.append((f"Export, {name} batch {batch}: ONNX Runtime / eager PyTorch latency (CPU, 1 thread)",
                         f"<= {GOAL_RATIO:.2f}", f"{row['ratio']:.2f} ({fmt(ms['onnxruntime'], 3)} vs {fmt(ms['eager'], 3)} ms)",
                         met(row["ratio"] <= GOAL_RATIO)))
    return rows


def markdown(result: dict[str, Any]) -> list[str]:
    rows = []
    for name, case in result["cases"].items():
        for batch, row in case["batches"].items():
            ms = row["median_ms"]
            rows.append([name, batch, fmt(ms["eager"], 3), fmt(ms["onnxruntime"], 3), f"{row['ratio']:.2f}",
                         f"{case['max_abs_difference']:.1e}", fmt(case["export_s"], 1)])
    return [
        "## Export: ONNX Runtime against eager PyTorch",
        "",
        f"CPU latency of one call, milliseconds, median over {result['rounds']} alternating rounds of "
        f"{result['budget_s']:g} s each runtime; {result['threads']} thread for both. The model is the one `lit_dl.load_run` "
        "gives (net, identity preprocessing, class probabilities); the ONNX file is written and checked by `lit-dl export`'s "
        "own code. Difference: the largest absolute difference of the probabilities on 64 inputs. Export: seconds to "
        "write, read back and check the file.",
        "",
        *table(["net", "batch", "eager PyTorch ms", "ONNX Runtime ms", "ratio", "difference", "export s"], rows),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks", help="where export.json and export.md go")
    parser.add_argument("--tiny", action="store_true", help="tiny nets and budgets: a dry run, in seconds")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per case and batch size")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of calls per round and runtime")
    options = parser.parse_args(argv)
    if options.tiny:
        options.repeats, options.budget = 1, 0.05
    import tempfile

    results: dict[str, Any] = {"machine": machine(), "load_before": load_average(), "tiny": options.tiny}
    with tempfile.TemporaryDirectory(prefix="lit-dl-bench-export-") as workdir:
        results["export"] = run(options, Path(workdir))
    results["load_after"] = load_average()
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "export.json").write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    lines = [
        "# Export benchmark",
        "",
        "Written by `python scripts/bench/export.py` (also a section of `python -m scripts.bench`); every figure is in "
        "`export.json`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, torch {m['torch']}; lit-dl {m['git']}; {m['date']}. "
        f"Load average (1 min) before: {fmt(results['load_before'])}, after: {fmt(results['load_after'])}; "
        "the machine is shared with other work.",
        "",
        *table(["goal", "target", "measured", ""], goals(results["export"])),
        "",
        *markdown(results["export"])[1:],
    ]
    (options.out / "export.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return results


if __name__ == "__main__":
    main()
