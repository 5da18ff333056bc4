"""Overhead worker: one case, trained alternately by `lit-dl fit` and by a hand-written loop.

    python scripts/bench_overhead.py --case mlp --repeats 5 --threads 1 --workdir /tmp/x

prints one JSON object: the steady-state seconds per step of every run of each runner. Both
runners share this process, the thread count, the net class and its arguments, the data, the
batch size, the optimizer and the step count; the runs alternate so that load on the machine
hits both alike.

- `torch`: what a researcher writes by hand: `DataLoader(TensorDataset(x, y), batch_size,
  shuffle=True)`, `model.train()`, then per batch `zero_grad`, forward, loss, backward, step.
- `lit`: `lit_dl.cli.main(["fit", "--config", <case>.yaml, ...])`, the `lit-dl` console
  script's own entry point, with every default callback, the CSV logger and checkpointing,
  plus `bench_timing.StepTimer`.

Each run is one epoch of `steps` batches (the training split holds exactly `steps * batch`
samples), so no validation falls between the timed steps. The time of a step is the gap between
the ends of two consecutive optimizer steps; the first `warmup` steps are left out.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import statistics
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

# `import lightning` sets PYTORCH_NVML_BASED_CUDA_CHECK=1, which makes every AdamW step of a CPU
# process load NVML. A hand-written loop's process never imports Lightning, so its runs get the
# variable as the user had it, recorded here before anything imports Lightning; plain Lightning
# runs get Lightning's value; `lit-dl fit` does what the console script does (lit_dl.cli records
# the user's value at import, before Lightning, and restores it for runs without CUDA).
# Both before anything imports Lightning (bench_timing does).
import lit_dl.cli  # noqa: E402,F401

USER_NVML_CUDA_CHECK = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")

from bench_timing import stamp  # noqa: E402


@contextlib.contextmanager
def nvml_cuda_check(value: str | None):
    saved = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")
    _set_env("PYTORCH_NVML_BASED_CUDA_CHECK", value)
    try:
        yield
    finally:
        _set_env("PYTORCH_NVML_BASED_CUDA_CHECK", saved)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value

BATCH = 64
LR = 1e-3

# name -> net class path, its init args (besides input_shape/num_outputs), the data, default steps
CASES = {
    "mlp": {
        "title": "MLP [64, 32] on 32-feature arrays, 10 classes",
        "net": ("lit_dl.nets.MLP", {"hidden_dims": [64, 32]}),
        "data": "arrays",
        "shape": (32,),
        "steps": 420,
    },
    "cnn": {
        "title": "SimpleCNN [16, 32, 64] on 3x32x32 images, 10 classes",
        "net": ("lit_dl.nets.SimpleCNN", {"channels": [16, 32, 64], "hidden_dim": 128}),
        "data": "arrays",
        "shape": (3, 32, 32),
        "steps": 120,
    },
    "gru": {
        "title": "GRU (hidden 64, 2 layers) on synthetic parity sequences (T=32)",
        "net": ("lit_dl.nets.GRU", {"hidden_size": 64, "num_layers": 2}),
        "data": "sequences",
        "shape": (32, 1),
        "steps": 120,
    },
}


def _arrays(shape: tuple[int, ...], n_train: int, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    n = n_train + 2 * 512
    y = torch.randint(0, 10, (n,), generator=generator)
    x = torch.randn(n, *shape, generator=generator) + 0.5 * y.view(-1, *([1] * len(shape))).float()
    return x, y


def prepare(case: str, steps: int, workdir: Path) -> tuple[Path, tuple]:
    """Writes the case's experiment file (and data); returns it and the training tensors."""
    import numpy as np
    import yaml

    spec = CASES[case]
    n_train = steps * BATCH
    net_class, net_args = spec["net"]
    if spec["data"] == "arrays":
        x, y = _arrays(spec["shape"], n_train)
        path = workdir / f"{case}.npz"
        a, b = n_train, n_train + 512
        np.savez(
            path, x_train=x[:a].numpy(), y_train=y[:a].numpy(), x_val=x[a:b].numpy(), y_val=y[a:b].numpy(),
            x_test=x[b:].numpy(), y_test=y[b:].numpy(),
        )
        data = {"class_path": "lit_dl.data.ArrayDataModule", "init_args": {"path": str(path), "batch_size": BATCH}}
        train = (x[:a], y[:a])
    else:
        from lit_dl.data import SyntheticSequenceDataModule

        seq_len = spec["shape"][0]
        init = {"problem": "parity", "seq_len": seq_len, "n_train": n_train, "n_val": 512, "n_test": 512, "batch_size": BATCH}
        data = {"class_path": "lit_dl.data.SyntheticSequenceDataModule", "init_args": init}
        train = SyntheticSequenceDataModule(**init).splits["train"]
    config = {
        "seed_everything": 0,
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_model_summary": False},
        "model": {
            "class_path": "lit_dl.tasks.Classifier",
            "init_args": {
                "net": {"class_path": net_class, "init_args": net_args},
                "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": LR}},
            },
        },
        "data": data,
    }
    experiment = workdir / f"{case}.yaml"
    experiment.write_text(yaml.safe_dump(config, sort_keys=False))
    return experiment, train


def _net(case: str, num_outputs: int):
    import importlib

    spec = CASES[case]
    class_path, args = spec["net"]
    module, name = class_path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(spec["shape"], num_outputs, **args)


def run_torch(case: str, train: tuple, seed: int = 0, slices: bool = False, fused: bool = False) -> list[float]:
    """The hand-written loop; returns the time at the end of every step.

    By default what a researcher writes: `DataLoader(TensorDataset)` and torch's default AdamW.
    `slices` feeds it lit-dl's `TensorBatchLoader` (in-memory batch slices) and `fused` uses the
    fused AdamW: together, the fastest loop a researcher could write by hand."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from lit_dl.data import TensorBatchLoader

    torch.manual_seed(seed)
    x, y = train
    model = _net(case, int(y.max()) + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, **({"fused": True} if fused else {}))
    loss_fn = torch.nn.CrossEntropyLoss()
    if slices:
        loader = TensorBatchLoader((x, y), batch_size=BATCH, shuffle=True, seed=seed)
    else:
        loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    times = []
    model.train()
    for inputs, target in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), target)
        loss.backward()
        optimizer.step()
        times.append(stamp())
    return times


def run_lightning(case: str, train: tuple, slices: bool, workdir: Path, seed: int = 0, fused: bool = False) -> list[float]:
    """Plain Lightning, as its docs write it: a minimal LightningModule, `Trainer.fit`, no
    logger, checkpoint or progress bar; a standard DataLoader or in-memory slices."""
    import lightning.pytorch as pl
    import torch
    from bench_timing import StepTimer
    from torch.utils.data import DataLoader, TensorDataset

    from lit_dl.data import TensorBatchLoader

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = _net(case, int(train[1].max()) + 1)
            self.loss_fn = torch.nn.CrossEntropyLoss()

        def training_step(self, batch, batch_idx):
            inputs, target = batch
            return self.loss_fn(self.net(inputs), target)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=LR, **({"fused": True} if fused else {}))

    pl.seed_everything(seed, verbose=False)
    x, y = train
    if slices:
        loader = TensorBatchLoader((x, y), batch_size=BATCH, shuffle=True, seed=seed)
    else:
        loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    timer = StepTimer()
    trainer = pl.Trainer(
        max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer], default_root_dir=str(workdir),
    )
    trainer.fit(Module(), loader)
    return timer.times


def run_lit(experiment: Path, workdir: Path, extra: list[str] = ()) -> list[float]:
    """`lit-dl fit` in this process; returns the time at the end of every step."""
    from bench_timing import StepTimer

    from lit_dl.cli import main

    before = len(StepTimer.runs)
    argv = [
        "fit", "--config", str(experiment), "--trainer.default_root_dir", str(workdir / "runs"),
        "--trainer.callbacks+=bench_timing.StepTimer", "--test_after_fit", "false", *extra,
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        main(argv)
    if len(StepTimer.runs) != before + 1:
        raise RuntimeError("the StepTimer callback did not run")
    return StepTimer.runs[-1]


RUNNERS = ("torch", "torch_slices", "torch_slices_fused", "lightning", "lightning_slices", "lightning_slices_fused", "lit")


def run(name: str, case: str, train: tuple, experiment: Path, workdir: Path) -> list[float]:
    if name == "torch":
        with nvml_cuda_check(USER_NVML_CUDA_CHECK):
            return run_torch(case, train)
    if name in ("torch_slices", "torch_slices_fused"):
        with nvml_cuda_check(USER_NVML_CUDA_CHECK):
            return run_torch(case, train, slices=True, fused=name.endswith("fused"))
    if name in ("lightning", "lightning_slices", "lightning_slices_fused"):
        with nvml_cuda_check("1"):
            return run_lightning(case, train, slices="slices" in name, workdir=workdir, fused=name.endswith("fused"))
    if name == "lit":
        with nvml_cuda_check("1"):  # as after `import lightning`; the CLI restores the user's value
            return run_lit(experiment, workdir)
    raise ValueError(f"unknown runner {name!r}; choose from {', '.join(RUNNERS)}")


def step_time(times: list[tuple[float, float]], warmup: int) -> tuple[float, float]:
    """Mean wall and CPU seconds per step after the warm-up: the span of the steady steps over
    their count."""
    (wall0, cpu0), (wall1, cpu1) = times[warmup], times[-1]
    steps = len(times) - 1 - warmup
    return (wall1 - wall0) / steps, (cpu1 - cpu0) / steps


def quiet() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None, help="steps left out (default: a fifth)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--runners", default="torch,lit")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    quiet()
    args.workdir.mkdir(parents=True, exist_ok=True)
    steps = args.steps or CASES[args.case]["steps"]
    warmup = args.warmup if args.warmup is not None else max(steps // 5, 2)
    experiment, train = prepare(args.case, steps, args.workdir)
    runners = args.runners.split(",")
    wall: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name in runners:
            times = run(name, args.case, train, experiment, args.workdir)
            if len(times) != steps:
                raise RuntimeError(f"{name} ran {len(times)} steps, expected {steps}")
            seconds = step_time(times, warmup)
            wall[name].append(seconds[0])
            cpu[name].append(seconds[1])
    out = {
        "case": args.case, "title": CASES[args.case]["title"], "steps": steps, "warmup": warmup,
        "batch_size": BATCH, "threads": torch.get_num_threads(), "repeats": args.repeats,
        "wall_s": wall, "cpu_s": cpu,
        "median_wall_s": {k: statistics.median(v) for k, v in wall.items()},
        "median_cpu_s": {k: statistics.median(v) for k, v in cpu.items()},
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
