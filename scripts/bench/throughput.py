"""Throughput: samples per second, forward and backward, of every net of the zoo at its default
size on this machine's CPU (the GPU settings are `gpu.py`'s)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from scripts.bench.common import log, rate, table


def zoo() -> list[tuple[str, Callable, tuple[int, ...], int, int]]:
    """(name, constructor, input shape, outputs, batch size): the README's zoo table."""
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


def samples_per_second(net, shape, batch: int, budget_s: float, device: str = "cpu", bf16: bool = False,
                       channels_last: bool = False, most: int = 50) -> float:
    """Forward, loss and backward of one random batch, repeated (training mode, no optimizer)."""
    import torch

    net = net.to(device).train()
    x = torch.randn(batch, *shape, device=device)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        out.float().square().mean().backward()
        net.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return batch * rate(step, budget_s, most=most, sync=sync)


def run(options: argparse.Namespace, workdir: Path, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    import torch

    rows = {}
    for name, make, shape, outputs, batch in zoo():
        if options.zoo and name not in options.zoo.split(","):
            continue
        log(f"throughput: {name}")
        torch.manual_seed(0)
        net = make(shape, outputs)
        rows[name] = {
            "input": list(shape), "outputs": outputs, "batch": batch, "parameters": sum(p.numel() for p in net.parameters()),
            "cpu": samples_per_second(net, shape, batch, options.budget),
        }
    return {"threads": torch.get_num_threads(), "nets": rows}


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return []


def markdown(result: dict[str, Any]) -> list[str]:
    return [
        "## Throughput",
        "",
        f"Samples per second, forward + backward (training mode, no optimizer step), default size, CPU with "
        f"{result['threads']} threads. The GPU settings (bf16-mixed, channels_last, torch.compile) are in "
        f"`gpu.md`, written by `scripts/bench/gpu.sh` on a machine with a GPU.",
        "",
        *table(["net", "input", "parameters", "batch", "CPU fp32"], [
            [name, row["input"], f"{row['parameters']:,}", row["batch"], f"{row['cpu']:,.0f}"] for name, row in result["nets"].items()
        ]),
    ]
