"""Every GPU check in one run (`scripts/bench/gpu.sh`), written to `benchmarks/gpu.md` and `gpu.json`.

- recipe: `experiments/cifar10_fast.yaml` through `lit-dl fit` on CIFAR-shaped random data of the
  real size (49,000 training images on the GPU), one epoch per setting: as written (bf16-mixed,
  channels_last), fp32, without channels_last, with torch.compile, and with DDP on one GPU (its own
  process); images per second over the steady steps, and the 18 epochs it projects;
- hand: the same net, batch, autocast, layout and optimizer in a hand-written loop on data already
  on the GPU (no augmentation): the images per second lit-dl is measured against;
- overhead: the overhead section's worker on the GPU (best hand loop, plain Lightning, lit-dl);
- nets: samples per second of a few zoo nets in fp32, bf16-mixed, + channels_last, + torch.compile;
- syncs: the recipe as written through `lit-dl fit`, counting per training step the synchronising
  CUDA operations torch reports (`torch.cuda.set_sync_debug_mode("warn")`): none on a step that
  does not log (the host then queues work ahead of the GPU).

A check that fails is recorded with its error, and the others still run; checks that would start
after `--deadline` seconds are skipped, so the whole run stays under 8 minutes.

`--dry-run` (or LIT_DL_BENCH_DRY=1): every check on the CPU, tiny sizes, torch.compile disabled
(TORCH_COMPILE_DISABLE=1: the code path runs eagerly), in seconds; measures nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

DRY = "--dry-run" in sys.argv or os.environ.get("LIT_DL_BENCH_DRY") == "1"
if DRY:  # before torch is imported: torch.compile then runs the model eagerly
    os.environ["TORCH_COMPILE_DISABLE"] = "1"
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

from scripts.bench.cifar_files import write_cifar10  # noqa: E402
from scripts.bench.common import ENV, REPO, fmt, log, machine, met, python_module, stamp, table  # noqa: E402

RECIPE = REPO / "experiments" / "cifar10_fast.yaml"
RECIPE_GOAL_S = 10.0  # seconds of training for the whole recipe on one GPU
HAND_RATIO_GOAL = 1.05  # lit-dl's time per image over the hand loop's
SETTINGS = {  # recipe setting -> `lit-dl fit` arguments on top of the recipe
    "as written: bf16-mixed, channels_last": [],
    "fp32 (32-true)": ["--trainer.precision", "32-true"],
    "bf16-mixed, no channels_last": ["--model.init_args.channels_last", "false"],
    "bf16-mixed, channels_last, torch.compile": ["--model.init_args.compile", "true"],
    "DDP on one GPU (own process)": ["--trainer.strategy", "ddp"],
}
# At least 8 steps: OneCycleLR divides by the steps of its warm-up phase (a quarter of them, less one).
FULL = {"images_per_batch": 10000, "batch": 512, "steps": 90, "warmup": 20, "nets": ("ResNet18", "VisionTransformer"),
        "budget": 2.0, "overhead": ("mlp", "cnn"), "overhead_steps": None, "repeats": 3, "device": "cuda", "widths": None}
TINY = {"images_per_batch": 40, "batch": 8, "steps": 8, "warmup": 2, "nets": ("SimpleCNN",),
        "budget": 0.05, "overhead": ("mlp",), "overhead_steps": 12, "repeats": 1, "device": "cpu", "widths": [4, 8, 8, 8]}


def recipe_arguments(data_dir: Path, workdir: Path, size: dict[str, Any]) -> list[str]:
    arguments = [
        "fit", "--config", str(RECIPE), "--trainer.default_root_dir", str(workdir / "runs"), "--test_after_fit", "false",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", str(size["steps"]),
        "--data.init_args.data_dir", str(data_dir), "--data.init_args.download", "false", "--data.init_args.verify_md5", "false",
        "--data.init_args.batch_size", str(size["batch"]), "--trainer.callbacks+=scripts.bench.step_timer.StepTimer",
    ]
    if size["device"] == "cpu":
        arguments += ["--trainer.accelerator", "cpu", "--data.init_args.val_size", str(size["images_per_batch"])]
    if size["widths"]:
        arguments += ["--model.init_args.net.init_args.widths", json.dumps(size["widths"])]
    return arguments


def images_per_second(times: list, batch: int, warmup: int) -> float:
    """Images per second over the steps after the warm-up (compilation, cuDNN's search)."""
    (start, _), (end, _) = times[warmup], times[-1]
    return batch * (len(times) - 1 - warmup) / (end - start)


def fit_recipe(setting: str, arguments: list[str], size: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """One epoch of the recipe with this setting; DDP in its own process (it leaves a process group)."""
    started = time.perf_counter()
    if "DDP" in setting:
        times_file = workdir / "ddp_times.json"
        python_module("scripts.bench.gpu", "--fit", *arguments, env={**ENV, "LIT_DL_BENCH_STEP_TIMES": str(times_file)})
        times = json.loads(times_file.read_text())
    else:
        from lit_dl.cli import main
        from scripts.bench.step_timer import StepTimer

        try:
            with contextlib.redirect_stdout(io.StringIO()):
                main(arguments)
        except SystemExit as stop:  # lit-dl's one-line error is on stderr
            raise RuntimeError(f"lit-dl fit exited with {stop.code}") from None
        times = StepTimer.runs[-1]
    if len(times) != size["steps"]:
        raise RuntimeError(f"{len(times)} steps timed, expected {size['steps']}")
    rate = images_per_second(times, size["batch"], size["warmup"])
    return {"images_per_s": rate, "ms_per_step": size["batch"] / rate * 1e3, "wall_s": time.perf_counter() - started}


def hand_recipe(size: dict[str, Any]) -> dict[str, Any]:
    """The recipe's net, batch, bf16 autocast, channels_last, SGD and loss in a hand-written loop,
    on random images already on the device."""
    import torch
    import yaml

    from lit_dl import nets

    device, batch = size["device"], size["batch"]
    recipe = yaml.safe_load(RECIPE.read_text())["model"]["init_args"]
    torch.manual_seed(0)
    net_arguments = {**recipe["net"]["init_args"], **({"widths": size["widths"]} if size["widths"] else {})}
    net = nets.ResNet((3, 32, 32), 10, **net_arguments).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), **recipe["optimizer"]["init_args"])
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.2)
    images = torch.randn(size["steps"] * batch, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (len(images),), device=device)
    times = []
    for step in range(size["steps"]):
        part = slice(step * batch, (step + 1) * batch)
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            loss = loss_fn(net(images[part]), labels[part])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(stamp())
    rate = images_per_second(times, batch, size["warmup"])
    return {"images_per_s": rate, "ms_per_step": batch / rate * 1e3}


def net_rates(size: dict[str, Any]) -> dict[str, Any]:
    """Samples per second of a few zoo nets (batch 256 on a GPU) in each setting."""
    import torch

    from scripts.bench.throughput import samples_per_second, zoo

    batch = 256 if size["device"] == "cuda" else 4
    rows = {}
    for name, make, shape, outputs, _ in zoo():
        if name not in size["nets"]:
            continue
        row: dict[str, Any] = {}
        for setting, (bf16, channels_last, compiled) in {
            "fp32": (False, False, False), "bf16": (True, False, False),
            "bf16_channels_last": (True, True, False), "bf16_channels_last_compile": (True, True, True),
        }.items():
            torch.manual_seed(0)
            net = make(shape, outputs).to(size["device"], memory_format=torch.channels_last if channels_last else torch.preserve_format)
            net = torch.compile(net) if compiled else net
            row[setting] = attempt(lambda: samples_per_second(
                net, shape, batch, size["budget"], size["device"], bf16=bf16, channels_last=channels_last))
        rows[name] = {"batch": batch, **row}
    return rows


def attempt(work: Callable[[], Any]) -> Any:
    """`work()`'s result, or its error as a result (one failing setting does not stop the others)."""
    try:
        return work()
    except Exception as error:  # noqa: BLE001
        return {"error": f"{type(error).__name__}: {error}"[:300]}


def run_checks(size: dict[str, Any], workdir: Path, deadline_s: float, save: Callable[[dict], None]) -> dict[str, Any]:
    import torch

    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "dry_run": DRY, "size": size, "recipe": {}, "skipped": []}
    log(f"gpu: writing CIFAR-shaped random data ({5 * size['images_per_batch']:,} training images)")
    data_dir = write_cifar10(workdir / "cifar10", images_per_batch=size["images_per_batch"], test_images=size["images_per_batch"])
    checks: list[tuple[str, Callable[[], Any]]] = [("hand", lambda: hand_recipe(size))]
    checks += [(f"recipe/{setting}", lambda arguments=arguments, setting=setting: fit_recipe(
        setting, recipe_arguments(data_dir, workdir, size) + arguments, size, workdir)) for setting, arguments in SETTINGS.items()]
    checks += [(f"overhead/{case}", lambda case=case: overhead_on_device(case, size, workdir)) for case in size["overhead"]]
    checks.append(("syncs", lambda: sync_counts(data_dir, workdir, size)))
    checks.append(("nets", lambda: net_rates(size)))
    for name, work in checks:
        if time.perf_counter() - started > deadline_s:
            results["skipped"].append(name)
            continue
        log(f"gpu: {name}")
        section, _, key = name.partition("/")
        result = attempt(work)
        if key:
            results.setdefault(section, {})[key] = result
        else:
            results[section] = result
        if size["device"] == "cuda":
            torch.cuda.empty_cache()
        results["elapsed_s"] = time.perf_counter() - started
        save(results)
    return results


def sync_counts(data_dir: Path, workdir: Path, size: dict[str, Any]) -> dict[str, Any]:
    """Synchronising CUDA operations per training step of the recipe as written (first step apart:
    cuDNN's search and lazy set-up), split by whether the step logs; on the CPU, counts of 0."""
    from lit_dl.cli import main
    from scripts.bench.step_timer import SyncCounter

    timer = "--trainer.callbacks+=scripts.bench.step_timer.StepTimer"  # it synchronises every step itself
    arguments = [a for a in recipe_arguments(data_dir, workdir, size) if a != timer]
    arguments += ["--trainer.callbacks+=scripts.bench.step_timer.SyncCounter", "--trainer.log_every_n_steps", str(max(size["steps"] // 4, 2))]
    with contextlib.redirect_stdout(io.StringIO()):
        main(arguments)
    steps = SyncCounter.runs[-1][1:]
    quiet, logging = [s["syncs"] for s in steps if not s["logs"]], [s["syncs"] for s in steps if s["logs"]]
    return {"steps": len(steps), "quiet_steps": len(quiet), "quiet_syncs": sum(quiet), "quiet_max": max(quiet, default=0),
            "logging_steps": len(logging), "logging_syncs": sum(logging), "first_step_syncs": SyncCounter.runs[-1][0]["syncs"],
            "counted": size["device"] == "cuda", "per_step": SyncCounter.runs[-1]}


def overhead_on_device(case: str, size: dict[str, Any], workdir: Path) -> dict[str, Any]:
    from scripts.bench.overhead import measure

    return measure(case, size["repeats"], workdir / "overhead", steps=size["overhead_steps"], device=size["device"],
                   runners=("hand_best", "lightning", "lit"))


def recipe_images() -> int:
    """Images the whole recipe trains on: its epochs x steps x batch size (on the real data)."""
    import yaml

    from scripts.bench.cifar10_fast import projected

    plan = projected(yaml.safe_load(RECIPE.read_text()))
    return plan["steps"] * plan["batch_size"]


def goals(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    written = results["recipe"].get("as written: bf16-mixed, channels_last", {})
    hand = results.get("hand", {})
    if "images_per_s" in written:
        projected = recipe_images() / max(written["images_per_s"], *(
            r["images_per_s"] for r in results["recipe"].values() if "images_per_s" in r))
        rows.append(("cifar10_fast: the whole recipe's training, fastest setting", f"< {RECIPE_GOAL_S:.0f} s (94% accuracy: needs the real data)",
                     f"{projected:.1f} s projected from images/s", met(projected < RECIPE_GOAL_S)))
        if "images_per_s" in hand:
            ratio = hand["images_per_s"] / written["images_per_s"]
            rows.append(("cifar10_fast: `lit-dl fit` time per image / hand loop's", f"<= {HAND_RATIO_GOAL:.2f}",
                         f"{ratio:.2f} ({written['images_per_s']:,.0f} vs {hand['images_per_s']:,.0f} images/s)", met(ratio <= HAND_RATIO_GOAL)))
    return rows


def sync_goal(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    syncs = results.get("syncs")
    if not isinstance(syncs, dict) or "quiet_syncs" not in syncs:
        return []
    measured = (f"{syncs['quiet_syncs']} on {syncs['quiet_steps']} steps that do not log; {syncs['logging_syncs']} on "
                f"{syncs['logging_steps']} that do" + ("" if syncs["counted"] else " (no CUDA: nothing counted)"))
    return [("Synchronising CUDA operations on a training step that does not log (recipe as written)", "0", measured,
             met(syncs["quiet_syncs"] == 0) if syncs["counted"] else "n/a")]


def cell(value: Any, key: str = "images_per_s", digits: int = 0) -> str:
    if isinstance(value, dict) and "error" in value:
        return f"failed: {value['error'][:120]}"
    if isinstance(value, dict):
        value = value.get(key)
    return fmt(value, digits)


def markdown(results: dict[str, Any]) -> str:
    m, size = results["machine"], results["size"]
    images = recipe_images()
    lines = [
        "# lit-dl on a GPU",
        "",
        "Written by `scripts/bench/gpu.sh`" + (" in a CPU dry run (tiny sizes, nothing measured)" if results["dry_run"] else "") + "; "
        f"every figure is in `gpu.json`. Machine: {m['gpu'] or 'no GPU'}, {m['cpu']}, {m['cores']} cores; torch {m['torch']}, "
        f"lightning {m['lightning']}; lit-dl {m['git']}; {m['date']}; {results.get('elapsed_s', 0):.0f} s in all.",
        "",
        "## Goals",
        "",
        *table(["goal", "target", "measured", ""], goals(results) + sync_goal(results)),
        "",
        "## The fast CIFAR-10 recipe",
        "",
        f"`lit-dl fit --config experiments/cifar10_fast.yaml`, one epoch of {size['steps']} steps of {size['batch']} "
        f"CIFAR-shaped random images ({5 * size['images_per_batch']:,} in the training files), images per second "
        f"after {size['warmup']} warm-up steps; the hand loop: the same net, batch, bf16 autocast, channels_last and "
        "SGD on images already on the GPU, no augmentation.",
        "",
        *table(["setting", "images/s", "ms/step", "the whole recipe's training would take"], [
            [name, cell(r), cell(r, "ms_per_step", 2), f"{images / r['images_per_s']:.1f} s" if "images_per_s" in r else ""]
            for name, r in [("hand loop", results.get("hand", {})), *results["recipe"].items()]
        ]),
    ]
    if results.get("overhead"):
        lines += ["", "## Overhead on the GPU", "", "Time per step (median of rounds) and overhead over the best hand loop:", "",
                  *table(["case", "hand loop", "plain Lightning", "`lit-dl fit`"], [
                      [case, *(cell(o, "x") if "error" in o else f"{o['median_wall_s'][r] * 1e3:.3f} ms ({o['overhead_us'][r]:+,.0f} us)"
                               for r in ("hand_best", "lightning", "lit"))]
                      for case, o in results["overhead"].items()])]
    if isinstance(results.get("nets"), dict) and "error" not in results["nets"]:
        lines += ["", "## Nets", "", "Samples per second, forward + backward, random data:", "",
                  *table(["net", "batch", "fp32", "bf16-mixed", "bf16 + channels_last", "+ torch.compile"], [
                      [name, row["batch"], *(cell(row[k], digits=0) for k in ("fp32", "bf16", "bf16_channels_last", "bf16_channels_last_compile"))]
                      for name, row in results["nets"].items()])]
    if results["skipped"]:
        lines += ["", f"Skipped (past the time limit): {', '.join(results['skipped'])}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="on the CPU, tiny sizes, in seconds (also LIT_DL_BENCH_DRY=1)")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/ (a dry run: a temporary folder)")
    parser.add_argument("--deadline", type=float, default=400.0, help="seconds after which no further check starts")
    options = parser.parse_args(argv)
    out = options.out or (Path(tempfile.gettempdir()) / "lit-dl-gpu-dry-run" if DRY else REPO / "benchmarks")
    out.mkdir(parents=True, exist_ok=True)
    size = TINY if DRY else FULL
    if not DRY:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("gpu.sh: no GPU visible to torch; for a dry run on the CPU set LIT_DL_BENCH_DRY=1")

    def save(results: dict[str, Any]) -> None:  # after every check: a stopped run keeps what it measured
        (out / "gpu.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        (out / "gpu.md").write_text(markdown(results))

    with tempfile.TemporaryDirectory(prefix="lit-dl-gpu-") as tmp:
        run_checks(size, Path(tmp), options.deadline, save)
    log(f"wrote {out / 'gpu.md'} and {out / 'gpu.json'}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fit"]:  # one `lit-dl fit` in this process (the DDP setting)
        from lit_dl.cli import main as lit_dl_main

        lit_dl_main(sys.argv[2:])
    else:
        main()
