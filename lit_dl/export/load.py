"""`lit_dl.load_run`: a finished run back in Python, built as `lit-dl fit` built it, with its weights.

    run = lit_dl.load_run("runs/quickstart/version_0")      # checkpoints/best.ckpt
    run.predict([[0.1, 0.5]])                               # raw inputs -> class probabilities
    task, datamodule = run                                  # the trained task (eval mode) and its data
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lit_dl.cli.rebuild import build_task_and_data
from lit_dl.errors import UserError
from lit_dl.export.model import UserModel, output_description, user_model
from lit_dl.run.layout import CHECKPOINTS, CONFIG_FILE, best_checkpoint, latest_checkpoint, newest_run, run_dir_of_checkpoint
from lit_dl.run.results import read_results
from lit_dl.training.checkpoint_io import check_checkpoint

CHECKPOINT_CHOICES = ("best", "last")


@dataclass
class LoadedRun:
    """A trained run: its task (eval mode, on the CPU), its DataModule, and `model`, the task's
    net between the data's preprocessing and the output's meaning (see `UserModel`)."""

    task: Any
    datamodule: Any
    model: UserModel
    run_dir: Path
    checkpoint: Path

    def __iter__(self) -> Iterator[Any]:
        """`task, datamodule = lit_dl.load_run(...)`."""
        return iter((self.task, self.datamodule))

    @property
    def class_names(self) -> list[str] | None:
        """The classes, in the order of `predict`'s columns; None for a regression."""
        return output_description(self.task, self.datamodule, self.task.num_outputs).get("class_names")

    def predict(self, inputs: Any) -> Tensor:
        """Class probabilities `(N, C)` or predicted values `(N, num_outputs)` in the targets'
        units, for raw inputs (a list, NumPy array or tensor of N samples, or one sample) as a
        user has them: the DataModule's scaling and layout are applied here."""
        x = as_tensor(inputs)
        shape = self.model.raw_shape
        if x.ndim == len(shape):
            x = x.unsqueeze(0)  # one sample
        # A sequence may have any number of steps the net takes; everything else must match.
        expected = (None, shape[1]) if self.model.takes_sequences() else shape
        if x.ndim != len(shape) + 1 or any(e is not None and e != n for e, n in zip(expected, x.shape[1:])):
            raise UserError(
                f"inputs of shape {list(x.shape)} do not fit this run: it takes samples of shape {list(shape)}, "
                f"as (N, {', '.join(map(str, shape))}) for N samples"
            )
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            return self.model(x.to(device))


def as_tensor(values: Any) -> Tensor:
    """A float32 CPU tensor from a list, NumPy array or tensor."""
    if isinstance(values, Tensor):
        return values.detach().float().cpu()
    import numpy as np

    return torch.from_numpy(np.asarray(values, dtype=np.float32))


def load_run(path: str | Path, checkpoint: str = "best") -> LoadedRun:
    """The run at `path` (a run directory, or a checkpoint file inside one) rebuilt from its
    config.yaml by lit-dl's own CLI, with the weights of its `best` or `last` checkpoint."""
    run_dir, checkpoint_file = resolve_checkpoint(Path(path), checkpoint)
    task, datamodule = build_task_and_data([run_dir / CONFIG_FILE])
    load_weights(task, checkpoint_file)
    task.eval()
    return LoadedRun(task, datamodule, user_model(task, datamodule), run_dir, checkpoint_file)


def rebuild_model(run_dir: Path) -> UserModel:
    """The run's UserModel built again from its config.yaml, with fresh weights: what a
    safetensors export loads into."""
    return user_model(*build_task_and_data([run_dir / CONFIG_FILE])).eval()


def resolve_checkpoint(path: Path, checkpoint: str | None = "best") -> tuple[Path, Path]:
    """(run directory, checkpoint file) for a run directory and `best`/`last`, or for a
    checkpoint file inside a run directory (then `checkpoint` is not used)."""
    if path.is_file():
        run_dir = run_dir_of_checkpoint(path)
        if run_dir is None:
            raise UserError(f"{path} is not in a run directory's {CHECKPOINTS}/ folder; pass the run directory "
                            "(runs/<experiment>/version_<n>) or a checkpoint inside it: its config.yaml rebuilds the model")
        return _run_dir_with_config(run_dir), path
    if not path.is_dir():
        raise UserError(f"{path} does not exist; pass a run directory (runs/<experiment>/version_<n>) or a checkpoint file in it")
    if checkpoint not in CHECKPOINT_CHOICES:
        raise UserError(f"checkpoint {checkpoint!r} is not one of {', '.join(CHECKPOINT_CHOICES)}; pick one, or pass the checkpoint file itself")
    run_dir = _run_dir_with_config(path)
    found = best_checkpoint(run_dir, read_results(run_dir).get("best_checkpoint")) if checkpoint == "best" else latest_checkpoint(run_dir)
    if found is None:
        raise UserError(f"{run_dir} has no {checkpoint} checkpoint ({CHECKPOINTS}/{checkpoint}.ckpt): the run saved none; "
                        f"train it with `lit-dl fit` first{', or choose last' if checkpoint == 'best' else ''}")
    return run_dir, found


def _run_dir_with_config(run_dir: Path) -> Path:
    newest = newest_run(run_dir)
    if not (run_dir / CONFIG_FILE).is_file() and newest is not None:
        raise UserError(f"{run_dir} holds runs, not one run: pass one of them, e.g. the newest, {newest}")
    if not (run_dir / CONFIG_FILE).is_file():
        raise UserError(f"{run_dir} is not a run directory: it has no {CONFIG_FILE}; pass runs/<experiment>/version_<n>, "
                        "the folder `lit-dl fit` printed last")
    return run_dir


def load_weights(task: Any, checkpoint_file: Path) -> None:
    """The checkpoint's weights (and buffers: a Regressor's target scale) into `task`."""
    check_checkpoint(checkpoint_file, task)  # one line for a truncated or foreign file
    checkpoint = torch.load(checkpoint_file, map_location="cpu", weights_only=True)
    task.on_load_checkpoint(checkpoint)
    task.load_state_dict(checkpoint["state_dict"])
