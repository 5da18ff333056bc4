"""`lit-dl lr-find`: Lightning's learning-rate range test on the model and data `fit` would build.

LightningCLI makes a subcommand of a Trainer method of the same name (its arguments become the
subcommand's flags, its docstring's first line the help), so the range test is a method of a
Trainer subclass; the CLI runs it with the parser, links and run directory of `fit`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
from lightning.pytorch.tuner import Tuner

from lit_dl.errors import UserError

# The schedulers whose peak rate is `max_lr`: the suggested rate goes there, not to the optimizer.
PEAK_RATE_SCHEDULERS = ("OneCycleLR", "CyclicLR")
OPTIMIZER_LR_FLAG = "--model.init_args.optimizer.init_args.lr"
SCHEDULER_MAX_LR_FLAG = "--model.init_args.scheduler.init_args.max_lr"


class Trainer(pl.Trainer):
    """Lightning's Trainer with `lr_find`, the method behind `lit-dl lr-find`."""

    def lr_find(
        self,
        model: pl.LightningModule,
        datamodule: pl.LightningDataModule | None = None,
        min_lr: float = 1e-8,
        max_lr: float = 1.0,
        num_training: int = 100,
        mode: Literal["exponential", "linear"] = "exponential",
        early_stop_threshold: float | None = 4.0,
    ) -> Any:
        """Suggest a learning rate: train briefly while raising it, and find where the loss falls fastest.

        Args:
            model: the task, as `fit` builds it.
            datamodule: the data, as `fit` builds it.
            min_lr: the first learning rate tried.
            max_lr: the last learning rate tried.
            num_training: how many rates (training steps) to try; the search also ends with
                the trainer's max_epochs.
            mode: how the rate grows from step to step.
            early_stop_threshold: stop once the loss exceeds this many times its best value;
                null tries every rate.
        """
        return Tuner(self).lr_find(
            model, datamodule=datamodule, min_lr=min_lr, max_lr=max_lr, num_training=num_training,
            mode=mode, early_stop_threshold=early_stop_threshold, update_attr=False,
        )


def suggested_flag(scheduler_class_path: str | None, rate: float) -> str:
    """The command-line flag that trains with `rate`: the one-cycle peak, else the optimizer's lr."""
    name = (scheduler_class_path or "").rsplit(".", 1)[-1]
    flag = SCHEDULER_MAX_LR_FLAG if name in PEAK_RATE_SCHEDULERS else OPTIMIZER_LR_FLAG
    return f"{flag} {rate:.3g}"


def write_lr_find(finder: Any, run_dir: Path, scheduler_class_path: str | None) -> dict[str, Any]:
    """Write the loss-by-rate figure (lr_find.png) and the numbers (lr_find.json) into `run_dir`;
    returns what lr_find.json holds. A search too short for a suggestion is a user error, raised
    after both files are written so that the curve can still be looked at."""
    from lit_dl.plots import save_figure

    run_dir.mkdir(parents=True, exist_ok=True)
    suggestion = finder.suggestion() if finder is not None else None
    rates, losses = (finder.results["lr"], finder.results["loss"]) if finder is not None else ([], [])
    found = {
        "suggestion": suggestion,
        "flag": suggested_flag(scheduler_class_path, suggestion) if suggestion else None,
        "lr": [float(rate) for rate in rates],
        "loss": [float(loss) if math.isfinite(loss) else None for loss in losses],
    }
    (run_dir / "lr_find.json").write_text(json.dumps(found, indent=2) + "\n")
    if rates:
        figure = finder.plot(suggest=suggestion is not None)
        figure.axes[0].set_title(f"suggested: {found['flag']}" if suggestion else "no suggestion: too few rates tried")
        save_figure(figure, run_dir / "lr_find.png")
    if suggestion is None:
        raise UserError(
            f"lr-find tried only {len(rates)} learning rates, too few for a suggestion (see {run_dir}); "
            "raise --num_training, --trainer.max_epochs or the training set's size"
        )
    return found
