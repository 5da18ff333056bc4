"""The few lines a fit starts with: what trains, on what data and device, and where the run lives.

They stand in for Lightning's start-up messages and model table (see lit_dl.cli.console):

    quickstart (seed 42): Classifier with MLP, 4,547 parameters
    data: ToyClassificationDataModule, 2,048 train / 512 val samples, 32 batches of 64 an epoch
    device: cpu, 1 process, precision 32-true
    run: runs/quickstart/version_0
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from lit_dl.training.csv_logger import RunCSVLogger


class RunSummary(Callback):
    """Prints the summary lines once, on rank zero, when training starts (also after a resume)."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_rank == 0:
            print("\n".join(summary_lines(trainer, pl_module)), flush=True)


def summary_lines(trainer: pl.Trainer, pl_module: pl.LightningModule) -> list[str]:
    run_dir = next((Path(logger.log_dir) for logger in trainer.loggers if isinstance(logger, RunCSVLogger)), None)
    seed = os.environ.get("PL_GLOBAL_SEED")  # set by Lightning's seed_everything
    net = getattr(pl_module, "net", None)
    model = type(pl_module).__name__ + (f" with {type(net).__name__}" if net is not None else "")
    parameters = sum(p.numel() for p in pl_module.parameters())
    trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
    frozen = f" ({parameters - trainable:,} frozen)" if trainable < parameters else ""
    experiment = run_dir.parent.name if run_dir else "fit"
    lines = [f"{experiment}{f' (seed {seed})' if seed else ''}: {model}, {parameters:,} parameters{frozen}"]
    lines.append(f"data: {_data(trainer)}")
    lines.append(f"device: {_device(trainer)}")
    if trainer.ckpt_path:
        lines.append(f"resumed: {trainer.ckpt_path} at epoch {trainer.current_epoch + 1}, step {trainer.global_step}")
    if run_dir:
        lines.append(f"run: {run_dir}")
    return lines


def _data(trainer: pl.Trainer) -> str:
    datamodule = trainer.datamodule
    name = type(datamodule).__name__ if datamodule is not None else "data"
    description = getattr(datamodule, "description", None)  # what the data chose (ArrayDataModule's scaling)
    name += f" ({description})" if description else ""
    sizes = [f"{count:,} {split}" for split, count in (("train", _samples(trainer.train_dataloader)),
                                                        ("val", _samples(_first(trainer.val_dataloaders)))) if count]
    batches = trainer.num_training_batches
    batch_size = getattr(trainer.train_dataloader, "batch_size", None) or getattr(datamodule, "batch_size", None)
    counted = f"{batches:,} batches" if batches != float("inf") else "batches"
    per_epoch = counted + (f" of {batch_size}" if batch_size else "") + " an epoch"
    if trainer.accumulate_grad_batches > 1:
        per_epoch += f", {trainer.accumulate_grad_batches} per optimizer step"
    return ", ".join([name, *([" / ".join(sizes) + " samples"] if sizes else []), per_epoch])


def _device(trainer: pl.Trainer) -> str:
    import torch

    device = trainer.strategy.root_device
    name = str(device.type)
    if device.type == "cuda":
        name = f"cuda ({torch.cuda.get_device_name(device)})"
    processes = trainer.world_size
    return f"{name}, {processes} process{'es' if processes > 1 else ''}, precision {trainer.precision}"


def _first(loaders: Any) -> Any:
    return loaders[0] if isinstance(loaders, (list, tuple)) and loaders else loaders


def _samples(loader: Any) -> int | None:
    """How many samples a loader holds (all ranks together), when it can say."""
    dataset = getattr(loader, "dataset", None)
    if dataset is not None and hasattr(dataset, "__len__"):
        return len(dataset)
    tensors = getattr(loader, "tensors", None)
    return len(tensors[0]) if tensors else None
