"""Exact resume: a run stopped at any moment continues as if it never was.

`ExactResume` puts the RNG states in each checkpoint and restores them and the training loader's
position on resume: the same batches and dropout masks as an uninterrupted run. The loader's
position inside the epoch is the stateful `TensorBatchLoader`'s `state_dict`, which Lightning
saves in every checkpoint.
"""

from __future__ import annotations

import random
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from torch import Tensor
from torchmetrics import Metric

from lit_dl import internals
from lit_dl.training.csv_logger import RunCSVLogger


class ExactResume(Callback):
    """Makes a resumed run continue exactly as the uninterrupted run would have.

    Each checkpoint gets, besides what Lightning saves:
    - the torch/CUDA/numpy/python RNG states (Lightning re-seeds on start but restores no
      generator, so dropout and random augmentation would draw other numbers). Under DDP every
      rank is seeded alike and draws alike, so rank zero's states serve all ranks;
    - the states of the module's torchmetrics, every rank's (an epoch's training accuracy
      accumulates across the interruption);
    - its step: the rows the interrupted run logged in `metrics.csv` from that step on are
      dropped on resume, since the resumed run logs them again (all of them when a run stopped
      before its first save is trained again from its start). What was logged before the
      checkpoint is flushed to disk right after it.

    It also hands the training loader its saved position when Lightning did not: Lightning drops
    it when `configure_optimizers` read `trainer.estimated_stepping_batches` (OneCycleLR does),
    because that builds the loader before the checkpoint is restored
    (Lightning-AI/pytorch-lightning#20550).

    The rows are dropped when the fit starts; the rest is applied in `on_train_start`, after the
    sanity check, before the first batch.
    """

    def __init__(self) -> None:
        self._saved: dict[str, Any] = {}
        self._loader_states: list[dict[str, Any]] = []
        self._flush_logs = False

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        # Mid-epoch only: at an epoch's end the training metrics are about to be reset.
        metrics = {} if internals.is_last_batch(trainer) else _metric_states_of_ranks(trainer, pl_module)
        checkpoint.setdefault("callbacks", {})[self.state_key] = {
            "rng": _rng_states(),
            "metrics": metrics[0] if metrics else {},
            "metrics_of_ranks": metrics if len(metrics) > 1 else None,
            "step": trainer.global_step,
        }
        self._flush_logs = True

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        # What was logged up to the checkpoint must be on disk: a resumed run does not log it again.
        if self._flush_logs:
            self._flush_logs = False
            for logger in trainer.loggers:
                if isinstance(logger, RunCSVLogger):
                    logger.save()

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._saved = checkpoint.get("callbacks", {}).get(self.state_key) or {}
        self._loader_states = internals.saved_loader_states(checkpoint)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # From the step training starts at: a run trained again from its start (it stopped
        # before its first save) forgets every row of the attempt that was stopped. Here, not
        # when training starts: a resume with nothing left to train (it only tests and records)
        # never starts training, and must forget the stopped attempt's test row too.
        start = self._saved.get("step", trainer.global_step)
        for logger in trainer.loggers:
            if isinstance(logger, RunCSVLogger):
                logger.drop_rows_from_step(start)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        saved, self._saved = self._saved, {}
        loader_states, self._loader_states = self._loader_states, []
        if loader_states and trainer.train_dataloader is not None:
            loaders = [loader for loader in CombinedLoader(trainer.train_dataloader).flattened if _is_stateful(loader)]
            if len(loaders) == len(loader_states):
                for loader, state in zip(loaders, loader_states):
                    if loader.state_dict() != state:
                        loader.load_state_dict(state)
        metrics = dict(pl_module.named_modules())
        of_ranks = saved.get("metrics_of_ranks") or []
        own = of_ranks[trainer.global_rank] if len(of_ranks) == trainer.world_size else saved.get("metrics")
        for name, state in (own or {}).items():
            if isinstance(metrics.get(name), Metric):
                _load_metric_state(metrics[name], state)
        if saved.get("rng"):
            _set_rng_states(saved["rng"])


def _rng_states() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        # This process's GPU only: asking every GPU would open a CUDA context on each of them.
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
        # Tensors and tuples only, so the checkpoint also loads with `weights_only=True`.
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *numpy_state[2:]),
        # Python's 625 numbers as one tensor: saving them one by one was a third of the checkpoint's objects.
        "python": (version, torch.tensor(internal, dtype=torch.int64), gauss),
    }


def _set_rng_states(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if isinstance(state.get("cuda"), Tensor) and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    version, internal, gauss = state["python"]  # a tensor, or a tuple in checkpoints before it was one
    random.setstate((version, tuple(internal.tolist() if isinstance(internal, Tensor) else internal), gauss))


def _metric_states_of_ranks(trainer: pl.Trainer, pl_module: pl.LightningModule) -> list[dict[str, Any]]:
    """Each rank's torchmetrics states, by rank. Every rank saves a checkpoint at the same moment
    (only rank zero writes it), and each rank's metrics counted only its own batches."""
    own = {name: _metric_state(metric) for name, metric in pl_module.named_modules() if isinstance(metric, Metric)}
    if trainer.world_size == 1 or not own or not torch.distributed.is_initialized():
        return [own] if own else []
    every: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(every, own)
    return every


def _metric_state(metric: Metric) -> dict[str, Any]:
    def detached(value: Any) -> Any:
        return [v.detach().cpu() for v in value] if isinstance(value, list) else value.detach().cpu()

    return {"states": {k: detached(v) for k, v in metric.metric_state.items()}, "updates": metric.update_count}


def _load_metric_state(metric: Metric, saved: dict[str, Any]) -> None:
    device = metric.device
    for key, value in saved["states"].items():
        setattr(metric, key, [v.to(device) for v in value] if isinstance(value, list) else value.to(device))
    internals.restore_update_count(metric, saved["updates"])


def _is_stateful(loader: Any) -> bool:
    return callable(getattr(loader, "state_dict", None)) and callable(getattr(loader, "load_state_dict", None))
