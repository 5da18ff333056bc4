"""The benchmark (`python -m scripts.bench`) and the GPU checks (`scripts/bench/gpu.sh`) dry-run as
the user runs them, as processes, on sizes that measure nothing. The benchmark itself never runs
here; tests and scripts import nothing of each other."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from tests.helpers.paths import REPO

BENCH = REPO / "scripts" / "bench"
ENV = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(REPO)}


def run(*command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=REPO, env=env or ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_bench_imports_neither_tests_nor_private_speed_code():
    for path in BENCH.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "tests" or n.startswith("lit_dl.training.speed") for n in names), (path.name, names)


def test_bench_starts_as_a_module_and_as_a_file():
    for command in ([sys.executable, "-m", "scripts.bench", "--help"], [sys.executable, str(BENCH / "run.py"), "--help"]):
        assert "overhead" in run(*command).stdout


def test_tiny_overhead_has_the_like_for_like_rows_and_goals(tmp_path):
    run(sys.executable, "-m", "scripts.bench", "--tiny", "--only", "overhead", "--out", str(tmp_path))
    overhead = json.loads((tmp_path / "results.json").read_text())["sections"]["overhead"]["mlp"]
    assert set(overhead["median_wall_s"]) >= {"hand_best", "lightning", "lit", "hand_dataloader"}
    assert overhead["overhead_us"]["hand_best"] == 0 and overhead["steps"] == 12
    readme = (tmp_path / "README.md").read_text()
    assert "| Overhead, mlp: `lit-dl fit` / plain Lightning, same batches and optimizer (CPU time) | <= 1.00 |" in readme
    for title in ("hand loop: in-memory slices, fused AdamW", "plain Lightning, same batches and optimizer", "DataLoader(TensorDataset)"):
        assert title in readme
    assert " us) |" in readme
    # Every default priced: where its time is spent, and its run against the same run without it.
    assert set(overhead["hook_cpu_s"]) >= {"StopOnSignal", "StopOnNonFiniteLoss", "LineProgressBar", "RunCheckpoint"}
    from dataclasses import fields

    from lit_dl.training.defaults import RunDefaults

    for default in fields(RunDefaults):  # a new default gets its row in scripts/bench/overhead.py's DEFAULTS
        assert f"| `{default.name}` | " in readme, default.name
    assert "| Defaults, mlp: all of them together, `lit-dl fit` over a bare Trainer" in readme


@pytest.mark.slow
def test_every_section_dry_runs(tmp_path):
    run(sys.executable, "-m", "scripts.bench", "--tiny", "--out", str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"overhead", "whole_run", "throughput", "startup", "data", "memory", "cifar10_fast", "export"} <= set(results["sections"])
    readme = (tmp_path / "README.md").read_text()
    for heading in ("## Goals", "## Overhead", "## Whole run", "## Throughput", "## Start-up", "## Data", "## Memory",
                    "## CIFAR-10 fast recipe", "## Export: ONNX Runtime against eager PyTorch"):
        assert heading in readme
    # One serialisation per new best, against last.ckpt written again as before the link.
    saves = results["sections"]["whole_run"]["median"]
    assert saves["lit_two_writes"]["new_best_serialisations"] == 2 and saves["lit"]["new_best_serialisations"] == 1


@pytest.mark.slow
def test_export_benchmark_dry_runs_as_a_script(tmp_path):
    run(sys.executable, str(BENCH / "export.py"), "--tiny", "--out", str(tmp_path))
    cases = json.loads((tmp_path / "export.json").read_text())["export"]["cases"]
    assert set(cases) == {"MLP", "ResNet-18", "GRU"}
    for case in cases.values():
        assert case["max_abs_difference"] <= 1e-4 and set(case["batches"]) == {"1", "64"}
        assert all(row["median_ms"]["eager"] > 0 and row["median_ms"]["onnxruntime"] > 0 for row in case["batches"].values())
    assert "| Export, ResNet-18 batch 64: ONNX Runtime / eager PyTorch latency (CPU, 1 thread) | <= 1.00 |" in (tmp_path / "export.md").read_text()


@pytest.mark.slow
def test_gpu_checks_dry_run_on_the_cpu(tmp_path):
    run("bash", str(BENCH / "gpu.sh"), "--out", str(tmp_path), env={**ENV, "LIT_DL_BENCH_DRY": "1"})
    results = json.loads((tmp_path / "gpu.json").read_text())
    assert results["dry_run"] and not results["skipped"]
    assert {"as written: bf16-mixed, channels_last", "fp32 (32-true)", "bf16-mixed, channels_last, torch.compile",
            "DDP on one GPU (own process)"} <= set(results["recipe"])
    failed = {name: r for name, r in [("hand", results["hand"]), *results["recipe"].items()] if "error" in r}
    assert not failed and "error" not in results["overhead"]["mlp"] and results["nets"]["SimpleCNN"]["bf16_channels_last_compile"] > 0
    # The sync count ran through a real fit, each step classified (nothing counted without CUDA).
    assert results["syncs"]["quiet_steps"] > 0 and results["syncs"]["logging_steps"] > 0 and not results["syncs"]["counted"]
    assert "| hand loop |" in (tmp_path / "gpu.md").read_text()
