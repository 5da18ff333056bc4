"""Data: batches per second of each DataModule's training loader against the training steps per
second of a model it would feed (headroom above 1: the loader is not the bottleneck); the
in-memory batching against `DataLoader(TensorDataset)`; synthetic sequence generation."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from scripts.bench.cifar_files import write_cifar10
from scripts.bench.common import log, met, rate, seconds, table

SEQUENCE_STEPS_GOAL = 1e6  # time steps per second, one core


def loader_batches_per_second(loader, budget_s: float, most: int = 2000) -> float:
    """Batches a training loader yields per second, over fresh epochs until the budget is spent."""
    count, start = 0, time.perf_counter()
    while True:
        for _ in loader:
            count += 1
            if count >= most or (count >= 5 and time.perf_counter() - start > budget_s):
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

    return rate(step, budget_s, least=3, most=500)


class TensorDatasetModule:
    """What a hand-written loop uses: `DataLoader(TensorDataset(x, y), batch_size, shuffle=True)`."""

    def __init__(self, x, y, batch_size: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.input_shape, self.num_outputs = tuple(x.shape[1:]), int(y.max()) + 1

    def train_dataloader(self):
        from torch.utils.data import DataLoader, TensorDataset

        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size, shuffle=True)


def cases(workdir: Path, cifar_images: int, rows: int) -> list[tuple[str, Any, Any, str]]:
    """(name, make the data module, make the net it feeds, the net's name)."""
    import numpy as np
    import torch

    from lit_dl import nets
    from lit_dl.data import ArrayDataModule, CIFAR10DataModule, SyntheticSequenceDataModule, ToyClassificationDataModule

    torch.manual_seed(0)
    x, y = torch.randn(rows, 32), torch.randint(0, 10, (rows,))
    npz = workdir / "arrays.npz"
    np.savez(npz, x_train=x.numpy(), y_train=y.numpy(), x_test=x[:512].numpy(), y_test=y[:512].numpy())
    cifar_dir = write_cifar10(workdir / "cifar10", images_per_batch=cifar_images // 5, test_images=200)

    def cifar(**kwargs):
        module = CIFAR10DataModule(data_dir=str(cifar_dir), download=False, verify_md5=False, val_size=min(200, cifar_images // 5), batch_size=128, **kwargs)
        module.setup("fit")
        return module

    def mlp(m):
        return nets.MLP(m.input_shape, m.num_outputs)

    def resnet18(m):
        return nets.ResNet18(m.input_shape, m.num_outputs)

    return [
        ("ToyClassificationDataModule (spirals)", lambda: ToyClassificationDataModule(n_train=rows, batch_size=64),
         lambda m: nets.MLP(m.input_shape, m.num_outputs, hidden_dims=[64, 64]), "MLP [64, 64]"),
        ("ArrayDataModule (.npz, 32 features)", lambda: ArrayDataModule(str(npz), batch_size=64), mlp, "MLP [64, 32]"),
        ("DataLoader(TensorDataset) (same arrays)", lambda: TensorDatasetModule(x, y, 64), mlp, "MLP [64, 32]"),
        ("SyntheticSequenceDataModule (parity, T=50)", lambda: SyntheticSequenceDataModule("parity", seq_len=50, batch_size=64),
         lambda m: nets.GRU(m.input_shape, m.num_outputs), "GRU"),
        ("CIFAR10DataModule, torchvision, 0 workers", lambda: cifar(num_workers=0, persistent_workers=False), resnet18, "ResNet18"),
        ("CIFAR10DataModule, torchvision, 2 workers", lambda: cifar(num_workers=2, persistent_workers=True), resnet18, "ResNet18"),
        ("CIFAR10DataModule, device_resident", lambda: cifar(device_resident=True), resnet18, "ResNet18"),
    ]


def run(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import torch

    rows, consumed = {}, {}
    for name, make_module, make_net, net_name in cases(workdir, options.cifar_images, options.array_rows):
        log(f"data: {name}")
        module = make_module()
        loader = module.train_dataloader()
        batches = loader_batches_per_second(loader, options.budget)
        first = next(iter(loader))
        key = (net_name, len(first[-1]))
        if key not in consumed:
            torch.manual_seed(0)
            consumed[key] = model_steps_per_second(make_net(module), first, options.budget)
        rows[name] = {"batch_size": key[1], "batches_per_s": batches, "model": net_name,
                      "model_steps_per_s": consumed[key], "headroom": batches / consumed[key]}
        del loader, module
    return {"threads": torch.get_num_threads(), "rows": rows,
            "sequence_generation": sequence_generation_rates(options.sequences)}


def sequence_generation_rates(n: int, seq_len: int = 100) -> dict[str, float]:
    """Time steps per second that `generate_sequences` produces for each problem, on one core (best of 3)."""
    import torch

    from lit_dl.data import generate_sequences
    from lit_dl.data.sequences import DEFAULT_FEATURES

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {
            problem: n * seq_len / min(
                seconds(generate_sequences, problem, n, seq_len, generator=torch.Generator().manual_seed(0)) for _ in range(3)
            )
            for problem in DEFAULT_FEATURES
        }
    finally:
        torch.set_num_threads(threads)


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    rates = result["sequence_generation"]
    slowest = min(rates, key=rates.get)
    rows.append(("Synthetic sequence generation, one core", f">= {SEQUENCE_STEPS_GOAL:,.0f} time steps/s",
                 f"{rates[slowest]:,.0f} (slowest problem: {slowest})", met(rates[slowest] >= SEQUENCE_STEPS_GOAL)))
    arrays, baseline = result["rows"]["ArrayDataModule (.npz, 32 features)"], result["rows"]["DataLoader(TensorDataset) (same arrays)"]
    speedup = arrays["batches_per_s"] / baseline["batches_per_s"]
    rows.append(("ArrayDataModule batches vs DataLoader(TensorDataset), small data", "faster",
                 f"{speedup:.1f}x ({arrays['batches_per_s']:,.0f} vs {baseline['batches_per_s']:,.0f} batches/s)", met(speedup > 1)))
    return rows


def markdown(result: dict[str, Any]) -> list[str]:
    return [
        "## Data",
        "",
        f"Batches per second of each training loader (fresh epochs, main process, {result['threads']} threads) against "
        f"the training steps per second (forward, backward, fused AdamW) of a model it would feed, at the same batch "
        f"size. Headroom above 1: the loader outpaces the model. CIFAR-10: a real-format copy of random images.",
        "",
        *table(["loader", "batch", "batches/s", "model", "model steps/s", "headroom"], [
            [name, row["batch_size"], f"{row['batches_per_s']:,.0f}", row["model"], f"{row['model_steps_per_s']:,.2f}", f"{row['headroom']:,.1f}x"]
            for name, row in result["rows"].items()
        ]),
        "",
        "`generate_sequences`, one thread, sequences of 100 steps (best of 3):",
        "",
        *table(["problem", "time steps/s"], [[p, f"{r:,.0f}"] for p, r in result["sequence_generation"].items()]),
    ]
