"""The fast CIFAR-10 recipe: end to end on a small real-format copy (on the CPU when there is no
GPU), its step count, and how long its net would take on this CPU. Its images per second on a
GPU: `gpu.sh`."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from scripts.bench.cifar_files import write_cifar10
from scripts.bench.common import ENV, REPO, log
from scripts.bench.throughput import samples_per_second

RECIPE = "experiments/cifar10_fast.yaml"
GOAL = "94% test accuracy on one H100 in under 10 s of training"


def projected(recipe: dict[str, Any]) -> dict[str, Any]:
    data = recipe["data"]["init_args"]
    epochs, train_images = recipe["trainer"]["max_epochs"], 50000 - data["val_size"]
    steps_per_epoch = math.ceil(train_images / data["batch_size"])
    return {"epochs": epochs, "train_images": train_images, "batch_size": data["batch_size"],
            "steps_per_epoch": steps_per_epoch, "steps": epochs * steps_per_epoch}


def run(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import torch
    import yaml

    from lit_dl import nets

    recipe = yaml.safe_load((REPO / RECIPE).read_text())
    per_batch = options.cifar_smoke_images // 5
    data_dir = write_cifar10(workdir / "cifar10_small", images_per_batch=per_batch, test_images=per_batch)
    overrides = [
        "--data.init_args.data_dir", str(data_dir), "--data.init_args.download", "false", "--data.init_args.verify_md5", "false",
        "--data.init_args.val_size", str(per_batch), "--trainer.accelerator", "cpu", "--trainer.precision", "32",
        "--trainer.max_epochs", "1", "--trainer.check_val_every_n_epoch", "1", "--data.init_args.batch_size", "32",
        "--data.init_args.eval_batch_size", "128",
    ]
    log(f"cifar10_fast: end to end on {4 * per_batch} images (CPU)")
    command = [shutil.which("lit-dl") or "lit-dl", "fit", "--config", str(REPO / RECIPE),
               "--trainer.default_root_dir", str(workdir / "runs"), *overrides]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - start
    run_dir = Path(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 and result.stdout.strip() else None
    results = json.loads((run_dir / "results.json").read_text()) if run_dir and (run_dir / "results.json").is_file() else {}
    plan = projected(recipe)
    log("cifar10_fast: the recipe's net on this CPU")
    torch.manual_seed(0)
    net_args = recipe["model"]["init_args"]["net"]["init_args"]
    net = nets.ResNet((3, 32, 32), 10, **net_args)
    cpu_rate = samples_per_second(net, (3, 32, 32), 64, budget_s=options.budget, most=10)
    return {
        "recipe": RECIPE, "projected": plan,
        "smoke": {"device": "cpu", "images": 4 * per_batch, "exit_code": result.returncode, "wall_s": wall,
                  "test_acc": (results.get("test") or {}).get("test/acc"),
                  "command": "lit-dl fit --config " + RECIPE + " " + " ".join(overrides).replace(str(data_dir), "DIR"),
                  "error": result.stderr[-1500:] if result.returncode else None},
        "cpu_projection": {"net": f"ResNet(blocks={net_args['blocks']}, widths={net_args['widths']})",
                           "parameters": sum(p.numel() for p in net.parameters()), "samples_per_s_fp32": cpu_rate,
                           "hours_for_recipe": plan["epochs"] * plan["train_images"] / cpu_rate / 3600},
    }


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    smoke, plan = result["smoke"], result["projected"]
    return [(f"`{RECIPE}`", GOAL,
             f"not measured here (no GPU; `scripts/bench/gpu.sh` measures its images/s). Runs end to end on the CPU "
             f"({smoke['images']} images, {smoke['wall_s']:.0f} s, exit {smoke['exit_code']}); "
             f"{plan['steps']:,} steps ({plan['epochs']} epochs x {plan['steps_per_epoch']})", "unverified")]


def markdown(result: dict[str, Any]) -> list[str]:
    smoke, plan, cpu = result["smoke"], result["projected"], result["cpu_projection"]
    return [
        "## CIFAR-10 fast recipe",
        "",
        f"`{RECIPE}` (goal: {GOAL}): {plan['epochs']} epochs of {plan['steps_per_epoch']} steps of "
        f"{plan['batch_size']} images = **{plan['steps']:,} optimizer steps** on {plan['train_images']:,} training images.",
        "",
        f"- End to end on the CPU: `{smoke['command']}` on a small real-format copy ({smoke['images']} training "
        f"images): exit code {smoke['exit_code']}, {smoke['wall_s']:.1f} s.",
        f"- The recipe's net, {cpu['net']} ({cpu['parameters']:,} parameters), trains at {cpu['samples_per_s_fp32']:,.0f} "
        f"images/s in fp32 on this CPU: the full recipe would take about {cpu['hours_for_recipe']:.1f} hours here.",
        "- On a GPU: `scripts/bench/gpu.sh` measures the recipe's images per second on CIFAR-shaped random data of the "
        "real size (`benchmarks/gpu.md`); the accuracy goal needs the real data and is unverified.",
    ]
