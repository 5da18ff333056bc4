"""lit-dl's benchmark: framework overhead, net throughput, start-up, data loading, memory and
the fast CIFAR-10 recipe, measured on this machine and written to `benchmarks/`.

    python scripts/bench.py                       # everything, under 10 minutes on 2 CPU cores
    python scripts/bench.py --only overhead,startup --repeats 3

Writes `benchmarks/results.json` (every figure, the machine, the versions) and
`benchmarks/README.md` (the tables, with the goals beside the figures). Not part of `pytest`:
`tests/test_bench.py` only smoke-tests the pieces on tiny sizes.

Sections:
- overhead: `lit-dl fit` against a hand-written loop on the same net, data, batch size,
  optimizer and steps (`bench_overhead.py`, one process per case, one thread);
- throughput: samples per second, forward and backward, of every net of the zoo at its default
  size (on a GPU too, when there is one: fp32, bf16-mixed, bf16 + channels_last, + compile);
- startup: `lit-dl --help` and `lit-dl fit --print_config` against `import lightning`, and which
  heavy optional modules the CLI imports;
- data: batches per second of each DataModule against the steps per second of a model it feeds;
- memory: peak resident memory and wall time of the quickstart run;
- cifar10_fast: the recipe end to end on a small copy of CIFAR-10 (on the CPU when no GPU), and
  its projected steps.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))  # cifar_files: a CIFAR-10 copy in the real on-disk format

SECTIONS = ("overhead", "throughput", "startup", "data", "memory", "cifar10_fast")
OVERHEAD_CASES = ("mlp", "cnn", "gru")
OVERHEAD_RUNNERS = ("torch", "torch_slices_fused", "lightning", "lightning_slices", "lit")
HEAVY_OPTIONAL = ("wandb", "torchvision", "matplotlib", "rich")
GOALS = {
    "overhead_ratio": 1.0,  # lit-dl fit / hand-written loop, every case
    "startup_extra_s": 0.5,  # lit-dl over `import lightning`
    "quickstart_peak_rss_gib": 1.5,
    "bench_minutes": 10.0,
    "sequence_steps_per_s": 1e6,  # synthetic sequence generation, one core
    "cifar10_fast": "94% test accuracy on one H100 in under 10 s of training",
}
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONWARNINGS": "ignore"}


# -- helpers -------------------------------------------------------------------------------------
def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    import lightning
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "gpu": gpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "git": git + ("-dirty" if dirty else ""),
    }


def run_once(command: list[str], cwd: Path = REPO) -> float:
    """Wall seconds of one execution of `command`, which must succeed."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


# -- overhead ------------------------------------------------------------------------------------
def bench_overhead(repeats: int, workdir: Path, cases=OVERHEAD_CASES, steps: int | None = None) -> dict[str, Any]:
    results = {}
    for case in cases:
        log(f"overhead: {case}")
        command = [
            sys.executable, str(SCRIPTS / "bench_overhead.py"), "--case", case, "--repeats", str(repeats),
            "--threads", "1", "--workdir", str(workdir / case), "--runners", ",".join(OVERHEAD_RUNNERS),
        ]
        if steps:
            command += ["--steps", str(steps)]
        result = subprocess.run(command, cwd=REPO, env={**ENV, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"bench_overhead.py --case {case} failed:\n{result.stderr[-3000:]}")
        out = json.loads(result.stdout.strip().splitlines()[-1])
        wall, cpu = out["median_wall_s"], out["median_cpu_s"]
        out["ratio"] = {name: wall[name] / wall["torch"] for name in wall}
        out["cpu_ratio"] = {name: cpu[name] / cpu["torch"] for name in cpu}
        results[case] = out
    return results


# -- throughput ----------------------------------------------------------------------------------
def zoo() -> list[tuple[str, Callable, tuple[int, ...], int, int]]:
    """(name, constructor, input shape, outputs, batch size) for every net of the zoo at its
    default size, on the inputs of the README's zoo table."""
    from lit_dl import nets

    image, sequence = (3, 32, 32), (50, 8)
    return [
        ("Perceptron", nets.Perceptron, (20,), 1, 64),
        ("MLP", nets.MLP, (1, 28, 28), 10, 64),
        ("SimpleCNN", nets.SimpleCNN, image, 10, 32),
        ("ResNet18", nets.ResNet18, image, 10, 32),
        ("ResNet34", nets.ResNet34, image, 10, 32),
        ("Inception", nets.Inception, image, 10, 32),
        ("MobileNet", nets.MobileNet, image, 10, 32),
        ("VisionTransformer", nets.VisionTransformer, image, 10, 32),
        ("RNN", nets.RNN, sequence, 2, 64),
        ("LSTM", nets.LSTM, sequence, 2, 64),
        ("GRU", nets.GRU, sequence, 2, 64),
        ("BiLSTM", nets.BiLSTM, sequence, 2, 64),
        ("TransformerEncoder", nets.TransformerEncoder, sequence, 2, 64),
    ]


def samples_per_second(
    net, shape, batch: int, device: str = "cpu", budget_s: float = 1.5, autocast: bool = False,
    channels_last: bool = False, max_iterations: int = 50,
) -> float:
    """Forward + loss + backward of one batch, repeated: one warm-up, then until `budget_s` has
    passed (at least two timed iterations)."""
    import torch

    net = net.to(device).train()
    x = torch.randn(batch, *shape, device=device)
    if channels_last and x.dim() == 4:
        if not hasattr(net, "_orig_mod"):  # a compiled net was converted before compiling
            net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=autocast):
            out = net(x)
        out.float().square().mean().backward()
        net.zero_grad(set_to_none=True)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(3 if device == "cuda" else 1):
        step()
    sync()
    iterations, start = 0, time.perf_counter()
    while iterations < 2 or (time.perf_counter() - start < budget_s and iterations < max_iterations):
        step()
        iterations += 1
    sync()
    return iterations * batch / (time.perf_counter() - start)


def bench_throughput(budget_s: float, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    import torch

    rows = {}
    for name, make, shape, outputs, batch in zoo():
        if names and name not in names:
            continue
        log(f"throughput: {name}")
        torch.manual_seed(0)
        net = make(shape, outputs)
        row = {
            "input": list(shape), "outputs": outputs, "batch": batch,
            "parameters": sum(p.numel() for p in net.parameters()),
            "cpu": samples_per_second(net, shape, batch, budget_s=budget_s),
        }
        if torch.cuda.is_available():
            gpu: dict[str, Any] = {}
            gpu_batch = 256
            settings = {
                "fp32": {},
                "bf16": {"autocast": True},
                "bf16_channels_last": {"autocast": True, "channels_last": True},
                "bf16_channels_last_compile": {"autocast": True, "channels_last": True, "compile": True},
            }
            for setting, options in settings.items():
                try:
                    net = make(shape, outputs).cuda()
                    if options.get("channels_last") and len(shape) == 3:
                        net = net.to(memory_format=torch.channels_last)
                    if options.get("compile"):
                        net = torch.compile(net)
                    gpu[setting] = samples_per_second(
                        net, shape, gpu_batch, "cuda", budget_s, autocast=options.get("autocast", False),
                        channels_last=options.get("channels_last", False),
                    )
                except Exception as error:  # noqa: BLE001  (a setting that fails is a result too)
                    gpu[setting] = None
                    gpu[f"{setting}_error"] = f"{type(error).__name__}: {error}"[:200]
                finally:
                    torch.cuda.empty_cache()
            row["gpu_batch"] = gpu_batch
            row["gpu"] = gpu
        rows[name] = row
    return {"threads": torch.get_num_threads(), "nets": rows}


# -- start-up ------------------------------------------------------------------------------------
IMPORTED_PROBE = """
import json, sys
if sys.argv[2:] == ["import lightning"]:
    import lightning
else:
    from lit_dl.cli import main
    try:
        main(sys.argv[2:])
    except SystemExit:
        pass
open(sys.argv[1], "w").write(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def bench_startup(runs: int, workdir: Path) -> dict[str, Any]:
    lit_dl = shutil.which("lit-dl") or "lit-dl"
    quickstart = str(REPO / "experiments" / "quickstart.yaml")
    commands = {
        "import torch": [sys.executable, "-c", "import torch"],
        "import lightning": [sys.executable, "-c", "import lightning"],
        "lit-dl --help": [lit_dl, "--help"],
        "lit-dl fit --print_config": [lit_dl, "fit", "--config", quickstart, "--print_config"],
    }
    # Rounds of one run of each command, so that a slow spell of the machine hits all alike.
    log(f"startup: {', '.join(commands)}")
    for command in commands.values():
        run_once(command)  # warm-up: the files are in the page cache for every timed run
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(run_once(command))
    seconds = {name: statistics.median(times) for name, times in samples.items()}
    base = seconds["import lightning"]
    imported = {}
    probes = {
        "import lightning": ["import lightning"],
        "lit-dl --help": ["--help"],
        "lit-dl fit --print_config": ["fit", "--config", quickstart, "--print_config"],
    }
    for name, args in probes.items():
        out = workdir / "imported.json"
        probe = IMPORTED_PROBE.format(heavy=HEAVY_OPTIONAL)
        subprocess.run([sys.executable, "-c", probe, str(out), *args], cwd=REPO, env=ENV, capture_output=True, check=True)
        imported[name] = json.loads(out.read_text())
    return {
        "runs": runs,
        "median_s": seconds,
        "extra_s": {name: seconds[name] - base for name in ("lit-dl --help", "lit-dl fit --print_config")},
        "heavy_imported": imported,
        # What lit-dl imports of them beyond what `import lightning` already does.
        "heavy_imported_by_lit_dl": sorted(
            {m for name in probes if name != "import lightning" for m in imported[name]} - set(imported["import lightning"])
        ),
    }


# -- data ----------------------------------------------------------------------------------------
def loader_batches_per_second(loader, budget_s: float, max_batches: int = 2000) -> float:
    """Batches a training loader yields per second, over fresh epochs until the budget is spent."""
    count, start = 0, time.perf_counter()
    while True:
        for _ in loader:
            count += 1
            if count >= max_batches or (count >= 5 and time.perf_counter() - start > budget_s):
                return count / (time.perf_counter() - start)


def model_steps_per_second(net, batch, budget_s: float) -> float:
    """Training steps (forward, loss, backward, fused AdamW) per second on one fixed batch."""
    import torch

    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, fused=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    *inputs, target = batch

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(net(*inputs), target).backward()
        optimizer.step()

    step()
    count, start = 0, time.perf_counter()
    while count < 3 or (time.perf_counter() - start < budget_s and count < 500):
        step()
        count += 1
    return count / (time.perf_counter() - start)


def bench_data(budget_s: float, workdir: Path, cifar_images: int = 2000) -> dict[str, Any]:
    import numpy as np
    import torch

    from lit_dl import nets
    from lit_dl.data import ArrayDataModule, CIFAR10DataModule, SyntheticSequenceDataModule, ToyClassificationDataModule

    from cifar_files import write_cifar10

    torch.manual_seed(0)
    x = torch.randn(20000, 32)
    y = torch.randint(0, 10, (20000,))
    npz = workdir / "arrays.npz"
    np.savez(npz, x_train=x.numpy(), y_train=y.numpy(), x_test=x[:512].numpy(), y_test=y[:512].numpy())
    cifar_dir = write_cifar10(workdir / "cifar10", images_per_batch=cifar_images // 5, test_images=200)

    def cifar(**kwargs):
        module = CIFAR10DataModule(
            data_dir=str(cifar_dir), download=False, verify_md5=False, val_size=200, batch_size=128, **kwargs
        )
        module.setup("fit")
        return module

    cases = [
        ("ToyClassificationDataModule (spirals)", lambda: ToyClassificationDataModule(n_train=20000, batch_size=64),
         lambda m: nets.MLP(m.input_shape, m.num_outputs, hidden_dims=[64, 64]), "MLP [64, 64]"),
        ("ArrayDataModule (.npz, 32 features)", lambda: ArrayDataModule(str(npz), batch_size=64),
         lambda m: nets.MLP(m.input_shape, m.num_outputs), "MLP [64, 32]"),
        ("DataLoader(TensorDataset) (same arrays)", lambda: _TensorDatasetModule(x, y, 64),
         lambda m: nets.MLP(m.input_shape, m.num_outputs), "MLP [64, 32]"),
        ("SyntheticSequenceDataModule (parity, T=50)", lambda: SyntheticSequenceDataModule("parity", seq_len=50, batch_size=64),
         lambda m: nets.GRU(m.input_shape, m.num_outputs), "GRU"),
        ("CIFAR10DataModule, torchvision, 0 workers", lambda: cifar(num_workers=0, persistent_workers=False),
         lambda m: nets.ResNet18(m.input_shape, m.num_outputs), "ResNet18"),
        ("CIFAR10DataModule, torchvision, 2 workers", lambda: cifar(num_workers=2, persistent_workers=True),
         lambda m: nets.ResNet18(m.input_shape, m.num_outputs), "ResNet18"),
        ("CIFAR10DataModule, device_resident", lambda: cifar(device_resident=True),
         lambda m: nets.ResNet18(m.input_shape, m.num_outputs), "ResNet18"),
    ]
    rows, consumed = {}, {}
    for name, make_module, make_net, net_name in cases:
        log(f"data: {name}")
        module = make_module()
        loader = module.train_dataloader()
        batches = loader_batches_per_second(loader, budget_s)
        first = next(iter(loader))
        batch_size = len(first[-1])
        key = (net_name, batch_size)
        if key not in consumed:
            torch.manual_seed(0)
            consumed[key] = model_steps_per_second(make_net(module), first, budget_s)
        rows[name] = {
            "batch_size": batch_size, "batches_per_s": batches, "model": net_name,
            "model_steps_per_s": consumed[key], "headroom": batches / consumed[key],
        }
        del loader, module
    return {"threads": torch.get_num_threads(), "rows": rows, "sequence_generation": sequence_generation_rates()}


def sequence_generation_rates(n: int = 20000, seq_len: int = 100) -> dict[str, float]:
    """Time steps per second that `generate_sequences` produces for each problem, on one core."""
    import torch

    from lit_dl.data import generate_sequences
    from lit_dl.data.sequences import DEFAULT_FEATURES

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rates = {}
        for problem in DEFAULT_FEATURES:
            best = min(
                _seconds(generate_sequences, problem, n, seq_len, generator=torch.Generator().manual_seed(0))
                for _ in range(3)
            )
            rates[problem] = n * seq_len / best
        return rates
    finally:
        torch.set_num_threads(threads)


def _seconds(work: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    start = time.perf_counter()
    work(*args, **kwargs)
    return time.perf_counter() - start


class _TensorDatasetModule:
    """What a hand-written loop uses: `DataLoader(TensorDataset(x, y), batch_size, shuffle=True)`."""

    def __init__(self, x, y, batch_size: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.input_shape, self.num_outputs = tuple(x.shape[1:]), int(y.max()) + 1

    def train_dataloader(self):
        from torch.utils.data import DataLoader, TensorDataset

        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size, shuffle=True)


# -- memory --------------------------------------------------------------------------------------
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


def bench_memory(workdir: Path, extra: list[str] = ()) -> dict[str, Any]:
    log("memory: quickstart")
    out = workdir / "memory.json"
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


# -- cifar10_fast --------------------------------------------------------------------------------
def bench_cifar10_fast(workdir: Path, images_per_batch: int = 64, budget_s: float = 3.0) -> dict[str, Any]:
    import torch
    import yaml

    from lit_dl import nets

    from cifar_files import write_cifar10

    recipe_path = REPO / "experiments" / "cifar10_fast.yaml"
    recipe = yaml.safe_load(recipe_path.read_text())
    data = recipe["data"]["init_args"]
    epochs = recipe["trainer"]["max_epochs"]
    train_images = 50000 - data["val_size"]
    steps_per_epoch = math.ceil(train_images / data["batch_size"])
    out: dict[str, Any] = {
        "recipe": "experiments/cifar10_fast.yaml",
        "projected": {"epochs": epochs, "train_images": train_images, "batch_size": data["batch_size"],
                      "steps_per_epoch": steps_per_epoch, "steps": epochs * steps_per_epoch},
    }
    gpu = torch.cuda.is_available()
    data_dir = write_cifar10(workdir / "cifar10_small", images_per_batch=images_per_batch, test_images=images_per_batch)
    val_size = images_per_batch
    overrides = [
        "--trainer.default_root_dir", str(workdir / "runs"),
        "--data.init_args.data_dir", str(data_dir), "--data.init_args.download", "false",
        "--data.init_args.verify_md5", "false", "--data.init_args.val_size", str(val_size),
    ]
    if not gpu:
        overrides += [
            "--trainer.accelerator", "cpu", "--trainer.precision", "32", "--trainer.max_epochs", "1",
            "--trainer.check_val_every_n_epoch", "1", "--data.init_args.batch_size", "32",
            "--data.init_args.eval_batch_size", "128",
        ]
    log(f"cifar10_fast: end to end on {5 * images_per_batch} images ({'GPU' if gpu else 'CPU'})")
    command = [shutil.which("lit-dl") or "lit-dl", "fit", "--config", str(recipe_path), *overrides]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - start
    run_dir = Path(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 and result.stdout.strip() else None
    results = json.loads((run_dir / "results.json").read_text()) if run_dir and (run_dir / "results.json").is_file() else {}
    out["smoke"] = {
        "device": "gpu" if gpu else "cpu", "images": 5 * images_per_batch - val_size, "exit_code": result.returncode,
        "wall_s": wall, "test_acc": (results.get("test") or {}).get("test/acc"),
        "command": "lit-dl " + " ".join(["fit", "--config", "experiments/cifar10_fast.yaml", *overrides[2:]]).replace(str(data_dir), "DIR"),
        "error": result.stderr[-1500:] if result.returncode else None,
    }
    # What the full recipe would take on this CPU: the recipe's net, fp32, its batch size.
    log("cifar10_fast: the recipe's net on this CPU")
    torch.manual_seed(0)
    net_args = recipe["model"]["init_args"]["net"]["init_args"]
    net = nets.ResNet((3, 32, 32), 10, **net_args)
    cpu_rate = samples_per_second(net, (3, 32, 32), 64, budget_s=budget_s, max_iterations=10)
    out["cpu_projection"] = {
        "net": f"ResNet(blocks={net_args['blocks']}, widths={net_args['widths']})",
        "parameters": sum(p.numel() for p in net.parameters()),
        "samples_per_s_fp32": cpu_rate,
        "hours_for_recipe": epochs * train_images / cpu_rate / 3600,
    }
    return out


# -- report --------------------------------------------------------------------------------------
RUNNER_TITLES = {
    "torch": "hand-written loop, DataLoader(TensorDataset)",
    "torch_slices_fused": "hand-written loop, in-memory slices + fused AdamW",
    "lightning": "plain Lightning, DataLoader(TensorDataset)",
    "lightning_slices": "plain Lightning, in-memory slices",
    "lit": "`lit-dl fit`",
}


def goals(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(goal, target, measured, verdict) rows."""
    rows = []
    overhead = results.get("overhead")
    if overhead:
        for case, out in overhead.items():
            ratio = out["ratio"]["lit"]
            rows.append((
                f"Overhead, {case}: `lit-dl fit` / hand-written loop (wall)",
                f"<= {GOALS['overhead_ratio']:.2f}",
                f"{ratio:.2f} ({out['median_wall_s']['lit'] * 1e3:.2f} vs {out['median_wall_s']['torch'] * 1e3:.2f} ms/step; CPU time {out['cpu_ratio']['lit']:.2f})",
                met(ratio <= GOALS["overhead_ratio"]),
            ))
    startup = results.get("startup")
    if startup:
        for name, extra in startup["extra_s"].items():
            rows.append((
                f"Start-up: `{name}` over `import lightning`", f"<= {GOALS['startup_extra_s']:.1f} s",
                f"{extra:+.2f} s ({startup['median_s'][name]:.2f} vs {startup['median_s']['import lightning']:.2f} s)",
                met(extra <= GOALS["startup_extra_s"]),
            ))
        extra = startup["heavy_imported_by_lit_dl"]
        by_lightning = startup["heavy_imported"]["import lightning"]
        rows.append((
            "Lazy imports: wandb, torchvision, matplotlib, rich",
            "`--help` / `--print_config` import none beyond what `import lightning` does",
            (f"beyond `import lightning`: {', '.join(extra) or 'none'}; `import lightning` itself imports "
             f"{', '.join(by_lightning) or 'none'}"),
            met(not extra),
        ))
    cifar = results.get("cifar10_fast")
    if cifar:
        smoke = cifar["smoke"]
        rows.append((
            "`experiments/cifar10_fast.yaml`", GOALS["cifar10_fast"],
            f"no GPU here: not measured. Runs end to end on the {smoke['device'].upper()} "
            f"({smoke['images']} images, {smoke['wall_s']:.0f} s, exit {smoke['exit_code']}); "
            f"projected {cifar['projected']['steps']:,} steps ({cifar['projected']['epochs']} epochs x {cifar['projected']['steps_per_epoch']})",
            "unverified" if smoke["device"] == "cpu" else met(None),
        ))
    data = results.get("data")
    if data:
        rates = data.get("sequence_generation") or {}
        if rates:
            slowest = min(rates, key=rates.get)
            rows.append((
                "Synthetic sequence generation, one core", f">= {GOALS['sequence_steps_per_s']:,.0f} time steps/s",
                f"{rates[slowest]:,.0f} (slowest problem: {slowest})", met(rates[slowest] >= GOALS["sequence_steps_per_s"]),
            ))
        arrays = data["rows"].get("ArrayDataModule (.npz, 32 features)")
        baseline = data["rows"].get("DataLoader(TensorDataset) (same arrays)")
        if arrays and baseline:
            speedup = arrays["batches_per_s"] / baseline["batches_per_s"]
            rows.append((
                "ArrayDataModule batches vs DataLoader(TensorDataset), small data", "faster",
                f"{speedup:.1f}x ({arrays['batches_per_s']:,.0f} vs {baseline['batches_per_s']:,.0f} batches/s)", met(speedup > 1),
            ))
    memory = results.get("memory")
    if memory:
        rows.append((
            "Memory: peak RSS of the quickstart run, CPU", f"< {GOALS['quickstart_peak_rss_gib']} GiB",
            f"{memory['peak_rss_gib']:.2f} GiB", met(memory["peak_rss_gib"] < GOALS["quickstart_peak_rss_gib"]),
        ))
    if "elapsed_s" in results:
        minutes = results["elapsed_s"] / 60
        rows.append(("`python scripts/bench.py` on this machine", f"< {GOALS['bench_minutes']:.0f} min", f"{minutes:.1f} min", met(minutes < GOALS["bench_minutes"])))
    return rows


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# lit-dl benchmarks",
        "",
        "Written by `python scripts/bench.py`; every figure is in `results.json`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {fmt(m['memory_gib'], 1)} GiB, GPU: {m['gpu'] or 'none'}; "
        f"{m['os']}; Python {m['python']}, torch {m['torch']}, lightning {m['lightning']}; lit-dl {m['git']}; {m['date']}. "
        f"Load average (1 min) before: {fmt(results.get('load_before'))}, after: {fmt(results.get('load_after'))}.",
        "",
        "## Goals",
        "",
        "| goal | target | measured | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {goal} | {target} | {measured} | {verdict} |" for goal, target, measured, verdict in goals(results)]

    overhead = results.get("overhead")
    if overhead:
        first = next(iter(overhead.values()))
        lines += [
            "",
            "## Overhead",
            "",
            f"Steady-state time per training step (ms), median of {first['repeats']} runs per runner, runs "
            f"interleaved; {first['threads']} thread; batch {first['batch_size']}; AdamW (lr 1e-3); the first "
            f"fifth of the steps left out. Ratio: wall time over the hand-written loop with a standard "
            f"DataLoader (CPU time of the training thread in brackets, which load from other processes barely moves).",
            "",
            "| case | steps | " + " | ".join(RUNNER_TITLES[r] for r in OVERHEAD_RUNNERS) + " |",
            "|---|---|" + "---|" * len(OVERHEAD_RUNNERS),
        ]
        for out in overhead.values():
            cells = [
                f"{out['median_wall_s'][r] * 1e3:.3f} ms = {out['ratio'][r]:.2f}x ({out['cpu_ratio'][r]:.2f}x)"
                for r in OVERHEAD_RUNNERS
            ]
            lines.append(f"| {out['title']} | {out['steps']} | " + " | ".join(cells) + " |")

    throughput = results.get("throughput")
    if throughput:
        nets = throughput["nets"]
        has_gpu = any("gpu" in row for row in nets.values())
        lines += [
            "",
            "## Throughput",
            "",
            f"Samples per second, forward + backward (training mode, no optimizer step), default size, "
            f"CPU with {throughput['threads']} threads" + (", and GPU (batch 256)" if has_gpu else "; no GPU on this machine") + ".",
            "",
            "| net | input | parameters | batch | CPU fp32 |" + (" GPU fp32 | bf16-mixed | bf16 + channels_last | + torch.compile |" if has_gpu else ""),
            "|---|---|---|---|---|" + ("---|---|---|---|" if has_gpu else ""),
        ]
        for name, row in nets.items():
            line = f"| {name} | {row['input']} | {row['parameters']:,} | {row['batch']} | {row['cpu']:,.0f} |"
            if has_gpu:
                gpu = row.get("gpu", {})
                line += "".join(f" {fmt(gpu.get(k), 0)} |" for k in ("fp32", "bf16", "bf16_channels_last", "bf16_channels_last_compile"))
            lines.append(line)

    startup = results.get("startup")
    if startup:
        lines += [
            "",
            "## Start-up",
            "",
            f"Wall time of the command, median of {startup['runs']} runs after a warm-up run.",
            "",
            "| command | seconds | over `import lightning` | optional modules imported |",
            "|---|---|---|---|",
        ]
        base = startup["median_s"]["import lightning"]
        for name, seconds in startup["median_s"].items():
            imported = startup["heavy_imported"].get(name)
            lines.append(
                f"| `{name}` | {seconds:.2f} | {seconds - base:+.2f} | {', '.join(imported) if imported else ('none' if imported is not None else '')} |"
            )

    data = results.get("data")
    if data:
        lines += [
            "",
            "## Data",
            "",
            f"Batches per second of each training loader (fresh epochs, main process, {data['threads']} threads) "
            f"against the training steps per second (forward, backward, fused AdamW) of a model it would feed, "
            f"at the same batch size. Headroom above 1: the loader outpaces the model. CIFAR-10: a "
            f"real-format copy of random images.",
            "",
            "| loader | batch | batches/s | model | model steps/s | headroom |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in data["rows"].items():
            lines.append(
                f"| {name} | {row['batch_size']} | {row['batches_per_s']:,.0f} | {row['model']} | "
                f"{row['model_steps_per_s']:,.1f} | {row['headroom']:,.1f}x |"
            )
        rates = data.get("sequence_generation") or {}
        if rates:
            lines += [
                "",
                "`generate_sequences`, one thread, 20,000 sequences of 100 steps (best of 3):",
                "",
                "| problem | time steps/s |",
                "|---|---|",
                *(f"| {problem} | {rate:,.0f} |" for problem, rate in rates.items()),
            ]

    memory = results.get("memory")
    if memory:
        lines += [
            "",
            "## Memory",
            "",
            f"`{memory['command']}`: peak resident memory {memory['peak_rss_gib']:.2f} GiB, "
            f"{memory['wall_s']:.1f} s in all (start-up, 15 epochs, test), test accuracy {fmt(memory['test_acc'], 3)}.",
        ]

    cifar = results.get("cifar10_fast")
    if cifar:
        smoke, projected, cpu = cifar["smoke"], cifar["projected"], cifar["cpu_projection"]
        lines += [
            "",
            "## CIFAR-10 fast recipe",
            "",
            f"`{cifar['recipe']}` (goal: {GOALS['cifar10_fast']}): {projected['epochs']} epochs of "
            f"{projected['steps_per_epoch']} steps of {projected['batch_size']} images = **{projected['steps']:,} "
            f"optimizer steps** on {projected['train_images']:,} training images.",
            "",
            f"- End to end on the {smoke['device'].upper()}: `{smoke['command']}` on a small real-format copy "
            f"({smoke['images']} training images): exit code {smoke['exit_code']}, {smoke['wall_s']:.1f} s.",
            f"- The recipe's net, {cpu['net']} ({cpu['parameters']:,} parameters), trains at "
            f"{cpu['samples_per_s_fp32']:,.0f} images/s in fp32 on this CPU: the full recipe would take "
            f"about {cpu['hours_for_recipe']:.1f} hours here.",
            "- On an H100: not measured (no GPU was lent to this run); the accuracy and the time of the goal "
            "are unverified.",
        ]
    if "elapsed_s" in results:
        lines += ["", f"The whole benchmark took {results['elapsed_s'] / 60:.1f} minutes."]
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=5, help="runs per runner and case in the overhead section")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--budget", type=float, default=1.5, help="seconds per throughput / data measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads for throughput and data (overhead: 1)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")

    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "load_before": load_average(), "goals": GOALS}
    with tempfile.TemporaryDirectory(prefix="lit-dl-bench-") as tmp:
        workdir = Path(tmp)
        for section in SECTIONS:
            if section not in sections:
                continue
            section_start = time.perf_counter()
            directory = workdir / section
            directory.mkdir()
            if section == "overhead":
                results[section] = bench_overhead(args.repeats, directory)
            elif section == "throughput":
                results[section] = bench_throughput(args.budget)
            elif section == "startup":
                results[section] = bench_startup(args.startup_runs, directory)
            elif section == "data":
                results[section] = bench_data(args.budget, directory)
            elif section == "memory":
                results[section] = bench_memory(directory)
            elif section == "cifar10_fast":
                results[section] = bench_cifar10_fast(directory)
            results.setdefault("section_s", {})[section] = time.perf_counter() - section_start
    results["load_after"] = load_average()
    if set(sections) == set(SECTIONS):
        results["elapsed_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "README.md").write_text(markdown(results))
    log(f"wrote {args.out / 'results.json'} and {args.out / 'README.md'} in {(time.perf_counter() - start) / 60:.1f} min")
    return results


if __name__ == "__main__":
    main()
