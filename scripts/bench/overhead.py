"""Overhead: what a training step costs beyond the net's own work, like for like.

Every case (a net, its data, batch 64, AdamW lr 1e-3, one epoch of `steps` batches, one thread)
is trained by four runners, interleaved in one worker process, several rounds, median:

- `hand_best`: the fastest loop a researcher can write by hand: batches sliced from in-memory
  tensors (lit_dl's `TensorBatchLoader`), torch's fused AdamW;
- `lightning`: plain Lightning fed the same batches with the same fused optimizer: a minimal
  LightningModule, `Trainer` with its default callbacks (checkpointing, progress bar), no
  logger, no model summary;
- `lit`: `lit-dl fit` through its CLI entry point, with everything a run gets by default;
- `hand_dataloader`: the loop most people write: `DataLoader(TensorDataset)`, default AdamW;

plus one `lit:<trick>` runner per speed trick in `TRICKS`: the same `lit-dl fit` with that trick
switched off; and, to price lit-dl's defaults (`RunDefaults`, the `defaults:` section):

- `lightning_bare`: a bare `Trainer` (no logger, checkpointing, progress bar or model summary)
  training lit-dl's own task on the same batches: what every default together is measured against;
- `lit-<default>`: `lit-dl fit` with that one default switched off (`--defaults.<default> false`),
  and `lit-all_defaults` with all of them off.

The time of a step is the gap between the ends of two consecutive optimizer steps; the first
fifth of the steps is left out. Overhead: microseconds per step over `hand_best`.

    python -m scripts.bench.overhead --case mlp --repeats 5 --workdir /tmp/x   # one case, JSON
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any

from scripts.bench.common import ENV, NVML_CHECK, USER_NVML_CHECK, environment_variable, log, median, met, python_module, stamp, table

# lit-dl's entry point records the user's value at its import (it imports no Lightning): here,
# before anything imports Lightning, as in the `lit-dl` console script.
import lit_dl.cli  # noqa: E402,F401

BATCH = 64
LR = 1e-3
RUNNERS = ("hand_best", "lightning", "lit", "hand_dataloader")
TITLES = {
    "hand_best": "hand loop: in-memory slices, fused AdamW",
    "lightning": "plain Lightning, same batches and optimizer",
    "lit": "`lit-dl fit`",
    "hand_dataloader": "hand loop: DataLoader(TensorDataset), AdamW",
    "lightning_bare": "bare Lightning Trainer, lit-dl's task, same batches",
}
# Speed tricks that remain in lit_dl: name -> (what it is, the `lit-dl fit` arguments that switch
# it off). Each gets a row: the same run without it.
TRICKS: dict[str, tuple[str, list[str]]] = {
    "NoProfiler": ("one shared null context per hook call instead of PassThroughProfiler's new generator context",
                   ["--trainer.profiler", "lightning.pytorch.profilers.PassThroughProfiler"]),
}
# Every default of `RunDefaults`, in the table's order: the `lit-dl fit` arguments that switch it off
# (the progress bar: also Lightning's own, which would take its place) and the class it adds
# (None: a plugin, no callback hooks).
DEFAULTS: dict[str, tuple[list[str], str | None]] = {
    "lr_monitor": (["--defaults.lr_monitor", "false"], "StepLearningRateMonitor"),
    "grad_norm": (["--defaults.grad_norm", "false"], "GradientNormMonitor"),
    "progress": (["--defaults.progress", "false", "--trainer.enable_progress_bar", "false"], "LineProgressBar"),
    "summary": (["--defaults.summary", "false"], "RunSummary"),
    "exact_resume": (["--defaults.exact_resume", "false"], "ExactResume"),
    "stop_on_signal": (["--defaults.stop_on_signal", "false"], "StopOnSignal"),
    "stop_on_nan": (["--defaults.stop_on_nan", "false"], "StopOnNonFiniteLoss"),
    "checkpoint_every_n_steps": (["--defaults.checkpoint_every_n_steps", "null"], "PeriodicCheckpoint"),
    "atomic_checkpoints": (["--defaults.atomic_checkpoints", "false"], None),
}
ALL_DEFAULTS = "all_defaults"
DEFAULT_RUNNERS = tuple(f"lit-{name}" for name in (*DEFAULTS, ALL_DEFAULTS))
# Instrumented runs: lit-dl with every callback's per-step hooks timed; a bare Trainer with this
# many empty callbacks, for the cost of Lightning calling one callback's hooks.
HOOKS_RUNNER, EMPTY_CALLBACKS = "lit+hooks", 20
DISPATCH_RUNNER = f"lightning_bare+{EMPTY_CALLBACKS}"
GOAL_DEFAULTS_US = 100.0  # all defaults together, per step, over a bare Trainer with lit-dl's task
GOAL_ONE_DEFAULT_US = 20.0  # any one default, per step, or a reason below
# Why a default may cost more than GOAL_ONE_DEFAULT_US a step. Every hook's own code costs 2-5x
# more after the CNN's and GRU's steps than after the MLP's (the caches no longer hold it: the
# empty hooks of LineProgressBar measure 0.3, 2.0 and 0.8 us), so these are judged by their work.
REASONS: dict[str, str] = {
    "lr_monitor": "at a step that logs, the rate of every parameter group to every logger; between them one "
                  "cheap test (on the MLP: 6 us of hooks)",
    "grad_norm": "at a step that logs, one fused norm over every gradient (the CNN's 1.1M): its time grows with "
                 "the net, averaged over the steps between; none in between. Log less often "
                 "(`--trainer.log_every_n_steps`) or switch it off for less",
    "stop_on_nan": "one process on the CPU reads the loss every step (a CPU value: no device to wait for) and "
                   "names the exact step that diverged; on a GPU or with several processes it checks at the "
                   "steps that log only (on the MLP: 4 us of hooks)",
}
GOAL_NO_SLOWER_THAN_LIGHTNING = ("mlp",)
GOAL_HAND_RATIO = {"cnn": 1.05, "gru": 1.05}

# name -> title, net class path and its init args, data kind, input shape, default steps
CASES: dict[str, dict[str, Any]] = {
    "mlp": {
        "title": "MLP [64, 32] on 32-feature arrays, 10 classes",
        "net": ("lit_dl.nets.MLP", {"hidden_dims": [64, 32]}), "data": "arrays", "shape": (32,), "steps": 420,
    },
    "cnn": {
        "title": "SimpleCNN [16, 32, 64] on 3x32x32 images, 10 classes",
        "net": ("lit_dl.nets.SimpleCNN", {"channels": [16, 32, 64], "hidden_dim": 128}),
        "data": "arrays", "shape": (3, 32, 32), "steps": 120,
    },
    "gru": {
        "title": "GRU (hidden 64, 2 layers) on synthetic parity sequences (T=32)",
        "net": ("lit_dl.nets.GRU", {"hidden_size": 64, "num_layers": 2}), "data": "sequences", "shape": (32, 1), "steps": 120,
    },
}


# -- the case's data, config and net ---------------------------------------------------------------
def _arrays(shape: tuple[int, ...], n_train: int, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    n = n_train + 2 * 512
    y = torch.randint(0, 10, (n,), generator=generator)
    x = torch.randn(n, *shape, generator=generator) + 0.5 * y.view(-1, *([1] * len(shape))).float()
    return x, y


def prepare(case: str, steps: int, workdir: Path, accelerator: str) -> tuple[Path, tuple]:
    """Writes the case's experiment file (and data); returns it and the training tensors."""
    import numpy as np
    import yaml

    spec, n_train = CASES[case], steps * BATCH
    if spec["data"] == "arrays":
        x, y = _arrays(spec["shape"], n_train)
        path, a, b = workdir / f"{case}.npz", n_train, n_train + 512
        np.savez(path, x_train=x[:a].numpy(), y_train=y[:a].numpy(), x_val=x[a:b].numpy(), y_val=y[a:b].numpy(),
                 x_test=x[b:].numpy(), y_test=y[b:].numpy())
        data = {"class_path": "lit_dl.data.ArrayDataModule", "init_args": {"path": str(path), "batch_size": BATCH}}
        train = (x[:a], y[:a])
    else:
        from lit_dl.data import SyntheticSequenceDataModule

        init = {"problem": "parity", "seq_len": spec["shape"][0], "n_train": n_train, "n_val": 512, "n_test": 512, "batch_size": BATCH}
        data = {"class_path": "lit_dl.data.SyntheticSequenceDataModule", "init_args": init}
        train = SyntheticSequenceDataModule(**init).splits["train"]
    net_class, net_args = spec["net"]
    config = {
        "seed_everything": 0,
        "trainer": {"max_epochs": 1, "accelerator": accelerator, "devices": 1, "enable_model_summary": False},
        "model": {"class_path": "lit_dl.tasks.Classifier", "init_args": {
            "net": {"class_path": net_class, "init_args": net_args},
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": LR}},
        }},
        "data": data,
    }
    experiment = workdir / f"{case}.yaml"
    experiment.write_text(yaml.safe_dump(config, sort_keys=False))
    return experiment, tuple(train)


def make_net(case: str, num_outputs: int):
    import importlib

    class_path, args = CASES[case]["net"]
    module, name = class_path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(CASES[case]["shape"], num_outputs, **args)


# -- the runners: each returns the stamps at the end of every step ------------------------------------
def run_hand(case: str, train: tuple, device: str, best: bool, seed: int = 0) -> list[tuple[float, float]]:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from lit_dl.data import TensorBatchLoader

    torch.manual_seed(seed)
    x, y = train
    model = make_net(case, int(y.max()) + 1).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, **({"fused": True} if best else {}))
    loss_fn = torch.nn.CrossEntropyLoss()
    if best:  # the data lives where the model does: no copy per batch
        loader = TensorBatchLoader((x.to(device), y.to(device)), batch_size=BATCH, shuffle=True, seed=seed)
    else:
        loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = []
    model.train()
    for inputs, target in loader:
        inputs, target = inputs.to(device, non_blocking=True), target.to(device, non_blocking=True)
        optimizer.zero_grad()
        loss_fn(model(inputs), target).backward()
        optimizer.step()
        sync()
        times.append(stamp())
    return times


def run_lightning(case: str, train: tuple, device: str, workdir: Path, seed: int = 0) -> list[tuple[float, float]]:
    import lightning.pytorch as pl
    import torch

    from lit_dl.data import TensorBatchLoader
    from scripts.bench.step_timer import StepTimer

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = make_net(case, int(train[1].max()) + 1)
            self.loss_fn = torch.nn.CrossEntropyLoss()

        def training_step(self, batch, batch_idx):
            inputs, target = batch
            return self.loss_fn(self.net(inputs), target)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=LR, fused=True)

    pl.seed_everything(seed, verbose=False)
    loader = TensorBatchLoader(train, batch_size=BATCH, shuffle=True, seed=seed)
    timer = StepTimer()
    trainer = pl.Trainer(
        max_epochs=1, accelerator="gpu" if device == "cuda" else "cpu", devices=1, logger=False,
        enable_model_summary=False, callbacks=[timer], default_root_dir=str(workdir / "lightning"),
    )
    trainer.fit(Module(), loader)
    return timer.times


def run_lightning_bare(case: str, train: tuple, device: str, workdir: Path, seed: int = 0, empty: int = 0) -> list[tuple[float, float]]:
    """A bare `Trainer` (no logger, checkpointing, progress bar or model summary, Lightning's own
    profiler) training lit-dl's task (Classifier, AdamW as lit-dl builds it) on the same batches;
    with `empty` callbacks that do nothing."""
    import functools

    import lightning.pytorch as pl
    import torch

    from lit_dl.data import TensorBatchLoader
    from lit_dl.tasks import Classifier
    from scripts.bench.step_timer import StepTimer

    pl.seed_everything(seed, verbose=False)
    classes = int(train[-1].max()) + 1
    task = Classifier(net=make_net(case, classes), num_outputs=classes, optimizer=functools.partial(torch.optim.AdamW, lr=LR))
    timer = StepTimer()
    trainer = pl.Trainer(
        max_epochs=1, accelerator="gpu" if device == "cuda" else "cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer, *(pl.Callback() for _ in range(empty))],
        default_root_dir=str(workdir / "bare"),
    )
    trainer.fit(task, TensorBatchLoader(train, batch_size=BATCH, shuffle=True, seed=seed))
    return timer.times


def defaults_off(name: str) -> list[str]:
    """`lit-dl fit` arguments that switch one default off (`all_defaults`: every one)."""
    return [argument for default in (DEFAULTS if name == ALL_DEFAULTS else [name]) for argument in DEFAULTS[default][0]]


def run_lit(experiment: Path, workdir: Path, extra: list[str]) -> list[tuple[float, float]]:
    from lit_dl.cli import main
    from scripts.bench.step_timer import StepTimer

    before = len(StepTimer.runs)
    main([
        "fit", "--config", str(experiment), "--trainer.default_root_dir", str(workdir / "runs"),
        "--trainer.callbacks+=scripts.bench.step_timer.StepTimer", "--test_after_fit", "false", *extra,
    ])
    if len(StepTimer.runs) != before + 1:
        raise RuntimeError("the StepTimer callback did not run")
    return StepTimer.runs[-1]


def run_runner(name: str, case: str, train: tuple, experiment: Path, workdir: Path, device: str) -> list[tuple[float, float]]:
    if name in ("hand_best", "hand_dataloader"):
        with environment_variable(NVML_CHECK, USER_NVML_CHECK):
            return run_hand(case, train, device, best=name == "hand_best")
    if name in ("lightning_bare", DISPATCH_RUNNER):  # the variable as lit-dl gives it back: only the defaults differ
        with environment_variable(NVML_CHECK, USER_NVML_CHECK), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return run_lightning_bare(case, train, device, workdir, empty=EMPTY_CALLBACKS if name == DISPATCH_RUNNER else 0)
    # Lightning's and lit-dl's processes have imported Lightning, which sets the variable.
    with environment_variable(NVML_CHECK, "1"), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        if name == "lightning":
            return run_lightning(case, train, device, workdir)
        if name == "lit":
            return run_lit(experiment, workdir, [])
        if name.startswith("lit:") and name[4:] in TRICKS:
            return run_lit(experiment, workdir, TRICKS[name[4:]][1])
        if name in DEFAULT_RUNNERS:
            return run_lit(experiment, workdir, defaults_off(name[4:]))
        if name == HOOKS_RUNNER:
            return run_lit(experiment, workdir, ["--trainer.callbacks+=scripts.bench.step_timer.HookTimer"])
    raise ValueError(f"unknown runner {name!r}; choose from {', '.join(all_runners())}")


def all_runners() -> tuple[str, ...]:
    return (*RUNNERS, *(f"lit:{t}" for t in TRICKS), "lightning_bare", *DEFAULT_RUNNERS, HOOKS_RUNNER, DISPATCH_RUNNER)


def step_time(times: list[tuple[float, float]], warmup: int) -> tuple[float, float]:
    """Mean wall and CPU seconds per step after the warm-up: the span of the steady steps over their count."""
    (wall0, cpu0), (wall1, cpu1) = times[warmup], times[-1]
    steps = len(times) - 1 - warmup
    return (wall1 - wall0) / steps, (cpu1 - cpu0) / steps


def worker(argv: list[str] | None = None) -> dict[str, Any]:
    """One case, every runner, interleaved rounds (the order turns each round); prints JSON."""
    parser = argparse.ArgumentParser(description="overhead worker: one case")
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--runners", default=",".join(all_runners()))
    args = parser.parse_args(argv)

    import torch
    import warnings

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities"):
        logging.getLogger(name).setLevel(logging.ERROR)
    args.workdir.mkdir(parents=True, exist_ok=True)
    steps = args.steps or CASES[args.case]["steps"]
    warmup = max(steps // 5, 2)
    experiment, train = prepare(args.case, steps, args.workdir, "gpu" if args.device == "cuda" else "cpu")
    runners = args.runners.split(",")
    wall: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    hooks: dict[str, list[float]] = {}
    for round_ in range(args.repeats):
        for name in runners[round_ % len(runners):] + runners[: round_ % len(runners)]:
            times = run_runner(name, args.case, train, experiment, args.workdir, args.device)
            if len(times) != steps:
                raise RuntimeError(f"{name} ran {len(times)} steps, expected {steps}")
            wall_s, cpu_s = step_time(times, warmup)
            wall[name].append(wall_s)
            cpu[name].append(cpu_s)
            if name == HOOKS_RUNNER:
                from scripts.bench.step_timer import HookTimer

                for owner, seconds in HookTimer.runs[-1].items():
                    hooks.setdefault(owner, []).append(seconds)
    out = {
        "case": args.case, "title": CASES[args.case]["title"], "steps": steps, "warmup": warmup, "batch_size": BATCH,
        "threads": torch.get_num_threads(), "device": args.device, "repeats": args.repeats, "wall_s": wall, "cpu_s": cpu,
        "median_wall_s": {k: median(v) for k, v in wall.items()}, "median_cpu_s": {k: median(v) for k, v in cpu.items()},
        "hook_cpu_s": {owner: median(v) for owner, v in hooks.items()},
    }
    print(json.dumps(out))
    return out


# -- the section -------------------------------------------------------------------------------------
def measure(case: str, repeats: int, workdir: Path, steps: int | None = None, device: str = "cpu",
            runners: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Runs the worker for one case in a fresh process; adds the overheads over `hand_best`."""
    args = ["--case", case, "--repeats", str(repeats), "--threads", "1", "--workdir", str(workdir / case), "--device", device]
    args += ["--steps", str(steps)] if steps else []
    args += ["--runners", ",".join(runners)] if runners else []
    out = json.loads(python_module("scripts.bench.overhead", *args, env={**ENV, "OMP_NUM_THREADS": "1"}).strip().splitlines()[-1])
    best = out["median_wall_s"]["hand_best"]
    out["overhead_us"] = {name: (wall - best) * 1e6 for name, wall in out["median_wall_s"].items()}
    out["ratio_to_hand_best"] = {name: wall / best for name, wall in out["median_wall_s"].items()}
    return out


def run(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results = {}
    for case in options.overhead_cases.split(","):
        log(f"overhead: {case}")
        results[case] = measure(case, options.repeats, workdir, steps=options.overhead_steps)
    return results


# The goals are judged on the CPU time of the training thread: on a shared machine the wall time
# mostly measures the other processes (both are in results.json and in the tables).
MEASURE = "median_cpu_s"


def ms(out: dict[str, Any], runner: str, measure: str = MEASURE) -> str:
    seconds, best = out[measure][runner], out[measure]["hand_best"]
    return f"{seconds * 1e3:.3f} ms" + ("" if runner == "hand_best" else f" ({(seconds - best) * 1e6:+,.0f} us)")


def goals(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for case, out in results.items():
        cpu, wall = out[MEASURE], out["median_wall_s"]
        if case in GOAL_NO_SLOWER_THAN_LIGHTNING:
            ratio = cpu["lit"] / cpu["lightning"]
            rows.append((
                f"Overhead, {case}: `lit-dl fit` / plain Lightning, same batches and optimizer (CPU time)", "<= 1.00",
                f"{ratio:.2f} ({cpu['lit'] * 1e3:.3f} vs {cpu['lightning'] * 1e3:.3f} ms/step; wall {wall['lit'] / wall['lightning']:.2f})",
                met(ratio <= 1.0),
            ))
        if case in GOAL_HAND_RATIO:
            ratio = cpu["lit"] / cpu["hand_best"]
            rows.append((
                f"Overhead, {case}: `lit-dl fit` / best hand loop (CPU time)", f"<= {GOAL_HAND_RATIO[case]:.2f}",
                f"{ratio:.2f} ({cpu['lit'] * 1e3:.2f} vs {cpu['hand_best'] * 1e3:.2f} ms/step; wall {wall['lit'] / wall['hand_best']:.2f})",
                met(ratio <= GOAL_HAND_RATIO[case]),
            ))
        if "lightning_bare" in cpu:
            extra = (cpu["lit"] - cpu["lightning_bare"]) * 1e6
            noise = spread_us(out)
            priced = sum(default_costs(out, dispatch_cost(results)).values()) or None
            # A difference of whole runs below their spread between rounds says nothing either way;
            # the defaults priced where they are spent (hook time and Lightning's calls) are exact.
            verdict = met(priced <= GOAL_DEFAULTS_US) if priced is not None else met(extra <= GOAL_DEFAULTS_US)
            rows.append((
                f"Defaults, {case}: all of them together, `lit-dl fit` over a bare Trainer with lit-dl's task, same batches (CPU time)",
                f"<= {GOAL_DEFAULTS_US:.0f} us/step",
                (f"{priced:,.0f} us priced where spent; " if priced is not None else "")
                + f"whole runs {extra:+,.0f} us ({cpu['lit'] * 1e3:.3f} vs {cpu['lightning_bare'] * 1e3:.3f} ms/step; +/-{noise:,.0f} us between rounds)",
                verdict,
            ))
    dispatch = dispatch_cost(results)
    priced = [(case, name, cost) for case, out in results.items() for name, cost in default_costs(out, dispatch).items()]
    if priced:
        over = [f"{name} on {case} ({cost:+,.0f} us)" for case, name, cost in priced if cost > GOAL_ONE_DEFAULT_US and name not in REASONS]
        rows.append((f"Defaults: each one alone ({', '.join(DEFAULTS)}), every case", f"<= {GOAL_ONE_DEFAULT_US:.0f} us/step or a reason",
                     "over it without a reason: " + (", ".join(over) if over else "none"), met(not over)))
    return rows


def default_costs(out: dict[str, Any], dispatch: float | None) -> dict[str, float]:
    """Microseconds per step each default costs, measured where it is spent: the CPU time inside
    its callback's per-step hooks plus `dispatch`, Lightning's cost of calling one hook, times the
    per-step hooks the callback keeps (lit-dl sets the others to None: Lightning skips them).
    Empty without the instrumented runs."""
    hooks = out.get("hook_cpu_s") or {}
    if dispatch is None or not hooks:
        return {}
    return {name: (hooks.get(owner, 0.0) + dispatch * len(kept_step_hooks(owner))) * 1e6 if owner else 0.0
            for name, (_, owner) in DEFAULTS.items()}


def kept_step_hooks(owner: str) -> list[str]:
    """The per-training-step hooks (`STEP_HOOKS`) that lit-dl's callback class `owner` overrides:
    the ones Lightning still calls on it."""
    import importlib
    import pkgutil

    from lightning.pytorch.callbacks import Callback

    import lit_dl.training
    from scripts.bench.step_timer import STEP_HOOKS

    for module in pkgutil.iter_modules(lit_dl.training.__path__):
        cls = getattr(importlib.import_module(f"lit_dl.training.{module.name}"), owner, None)
        if isinstance(cls, type):
            return [hook for hook in STEP_HOOKS if getattr(cls, hook, None) is not getattr(Callback, hook)]
    raise LookupError(f"no callback class {owner} in lit_dl.training")


def dispatch_cost(results: dict[str, Any]) -> float | None:
    """Seconds Lightning takes in a step to call one callback hook: a bare Trainer with
    EMPTY_CALLBACKS empty callbacks (each with every one of the STEP_HOOKS) over one without,
    divided by the hook calls they add. Python's work, the same whatever the net, so taken from
    the case whose bare runs vary least in microseconds (on a long step the difference is lost
    in the step's own variation)."""
    from scripts.bench.step_timer import STEP_HOOKS

    cases = [out for out in results.values() if DISPATCH_RUNNER in out[MEASURE]]
    if not cases:
        return None
    steadiest = min(cases, key=lambda out: spread_us(out, "lightning_bare"))
    return (steadiest[MEASURE][DISPATCH_RUNNER] - steadiest[MEASURE]["lightning_bare"]) / (EMPTY_CALLBACKS * len(STEP_HOOKS))


def run_differences(out: dict[str, Any]) -> dict[str, float]:
    """Microseconds per step `lit-dl fit` takes over the same run without each default (noisy)."""
    cpu = out[MEASURE]
    return {name: (cpu["lit"] - cpu[f"lit-{name}"]) * 1e6 for name in (*DEFAULTS, ALL_DEFAULTS) if f"lit-{name}" in cpu}


def spread_us(out: dict[str, Any], runner: str = "lit") -> float:
    """Half the range of one runner's CPU time per step over the rounds, in microseconds."""
    rounds = out[MEASURE.removeprefix("median_")][runner]
    return (max(rounds) - min(rounds)) / 2 * 1e6


def markdown(results: dict[str, Any]) -> list[str]:
    first = next(iter(results.values()))
    runners = [r for r in first[MEASURE] if r not in (*DEFAULT_RUNNERS, HOOKS_RUNNER, DISPATCH_RUNNER)]
    header = ["case", "steps"] + [TITLES.get(r, f"`lit-dl fit` without {r[4:]}") for r in runners]
    lines = [
        "## Overhead",
        "",
        f"Time per training step and, in brackets, the overhead per step over the best hand loop in "
        f"microseconds: median of {first['repeats']} rounds, runners interleaved in one process "
        f"(the order turns each round), {first['threads']} thread, {first['device'].upper()}, batch "
        f"{first['batch_size']}, AdamW lr 1e-3, the first fifth of the steps left out. Plain Lightning: a "
        f"minimal LightningModule, `Trainer` defaults (checkpointing, progress bar), no logger. The best hand loop "
        f"keeps torch's default memory layout; lit-dl keeps nets with convolutions channels-last.",
        "",
        "CPU time of the training thread (what the goals are judged on: other processes on a shared machine barely move it):",
        "",
        *table(header, [[out["title"], out["steps"], *(ms(out, r) for r in runners)] for out in results.values()]),
        "",
        "Wall time, the same runs:",
        "",
        *table(header, [[out["title"], out["steps"], *(ms(out, r, "median_wall_s") for r in runners)] for out in results.values()]),
        *defaults_table(results),
    ]
    if not TRICKS:
        return lines + ["", "No speed trick beyond public APIs remains in lit_dl, so there are no with/without rows."]
    lines += ["", "Speed tricks: the same `lit-dl fit` without each (CPU time):", ""]
    return lines + table(["case", "trick", "with", "without", "step time it saves"], [
        [case, f"{name}: {TRICKS[name][0]}", f"{out[MEASURE]['lit'] * 1e3:.3f} ms", f"{out[MEASURE][f'lit:{name}'] * 1e3:.3f} ms",
         f"{1 - out[MEASURE]['lit'] / out[MEASURE][f'lit:{name}']:.1%}"]
        for case, out in results.items() for name in TRICKS if f"lit:{name}" in out[MEASURE]
    ])


def defaults_table(results: dict[str, Any]) -> list[str]:
    dispatch = dispatch_cost(results)
    costs = {case: default_costs(out, dispatch) for case, out in results.items()}
    differences = {case: run_differences(out) for case, out in results.items()}
    cases = [case for case in results if costs[case] or differences[case]]
    if not cases:
        return []

    def cell(case: str, name: str) -> str:
        priced, difference = costs[case].get(name), differences[case].get(name)
        return " ".join(filter(None, (f"{priced:,.1f}" if priced is not None else "", f"({difference:+,.0f})" if difference is not None else "")))

    cpu = {case: results[case][MEASURE] for case in cases}
    rows = [[f"`{name}`", *(cell(case, name) for case in cases), REASONS.get(name, "")] for name in DEFAULTS]
    rows.append(["all together", *(" ".join(filter(None, (f"{sum(costs[c].values()):,.1f}" if costs[c] else "",
                                                           f"({differences[c].get(ALL_DEFAULTS, 0.0):+,.0f})"))) for c in cases),
                 "the sum; in brackets `lit-dl fit` minus the same run with every default off"])
    rows.append(["over a bare Trainer", *(f"({(cpu[c]['lit'] - cpu[c]['lightning_bare']) * 1e6:+,.0f})" for c in cases),
                 "`lit-dl fit` minus lit-dl's task in a bare `Trainer` on the same batches (the goal's measure)"])
    noise = ", ".join(f"{case} +/-{spread_us(results[case]):,.0f} us" for case in cases)
    return [
        "",
        f"Defaults: microseconds per training step each one costs (CPU time). First figure: measured where it is spent, "
        f"the time inside its callback's per-step hooks (`{HOOKS_RUNNER}`: every hook timed, the timing's own cost taken "
        f"off) plus Lightning's cost of calling each per-step hook the callback keeps (lit-dl sets the ones it does not "
        f"override to None, which Lightning skips), {(dispatch or 0) * 1e6:.2f} us a hook call ({DISPATCH_RUNNER} over "
        f"`lightning_bare`, divided by the {EMPTY_CALLBACKS} empty callbacks' hook calls a step, in the case whose bare runs "
        f"vary least). In brackets: `lit-dl fit` minus the same run with that default off "
        f"(`--defaults.NAME false`), a difference of whole runs that is noise within the rounds' spread ({noise}: half "
        f"the range of `lit-dl fit` over the rounds). Goal: each at most {GOAL_ONE_DEFAULT_US:.0f} us, or a reason; all "
        f"together at most {GOAL_DEFAULTS_US:.0f} us over a bare Trainer.",
        "",
        *table(["default", *cases, "why it may cost more"], rows),
    ]


if __name__ == "__main__":
    worker()
