"""`lit-dl lr-find`: Lightning's learning-rate range test on the model and data `fit` would build.

A Trainer-backed command (lit_dl.cli.table): `TrainerMethod.lr_find` becomes the subcommand and
its flags, run with the parser, links and run-directory rules of `fit`; `CLISteps` runs it and
turns its result into what the user reads: the suggested rate, the flag that trains with it,
and lr_find.json / lr_find.png in a new version of the experiment.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch import LightningModule
from lightning.pytorch.tuner import Tuner

from lit_dl.errors import UserError
from lit_dl.plots import save_figure
from lit_dl.run.layout import LR_FIND_FILE, RunPaths

FILLED = ("model", "datamodule")  # the method's arguments the CLI fills
FIGURE_FILE = "lr_find.png"
# The schedulers whose peak rate is `max_lr`: the suggested rate goes there, not to the optimizer.
PEAK_RATE_SCHEDULERS = ("OneCycleLR", "CyclicLR")
OPTIMIZER_LR_FLAG = "--model.init_args.optimizer.init_args.lr"
SCHEDULER_MAX_LR_FLAG = "--model.init_args.scheduler.init_args.max_lr"


def suggested_flag(scheduler_class_path: str | None, rate: float) -> str:
    """The command-line flag that trains with `rate`: the one-cycle peak, else the optimizer's lr."""
    name = (scheduler_class_path or "").rsplit(".", 1)[-1]
    flag = SCHEDULER_MAX_LR_FLAG if name in PEAK_RATE_SCHEDULERS else OPTIMIZER_LR_FLAG
    return f"{flag} {rate:.3g}"


def write_lr_find(finder: Any, run_dir: Path, scheduler_class_path: str | None) -> dict[str, Any]:
    """Write the numbers (lr_find.json) and the loss-by-rate figure (lr_find.png) of Lightning's
    `_LRFinder` into `run_dir`; returns what lr_find.json holds. A search too short for a
    suggestion is a user error, raised before anything is written."""
    rates, losses = (finder.results["lr"], finder.results["loss"]) if finder is not None else ([], [])
    suggestion = finder.suggestion() if finder is not None else None
    if suggestion is None:
        raise UserError(
            f"lr-find tried {len(rates)} learning rates, too few to suggest one; "
            "raise --num_training, --trainer.max_epochs or the number of training batches"
        )
    found = {
        "suggestion": suggestion,
        "flag": suggested_flag(scheduler_class_path, suggestion),
        "lr": [float(rate) for rate in rates],
        "loss": [float(loss) if math.isfinite(loss) else None for loss in losses],
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LR_FIND_FILE).write_text(json.dumps(found, indent=2) + "\n")
    figure = finder.plot(suggest=True)
    figure.axes[0].set_title(f"suggested: {found['flag']}")
    save_figure(figure, run_dir / FIGURE_FILE)
    return found


class TrainerMethod:
    """Mixed into the Trainer (lit_dl.cli.trainer.LitDLTrainer)."""

    def lr_find(
        self,
        model: LightningModule,
        datamodule: Any = None,
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
            num_training: how many rates (one training step each) to try; the search also
                ends with the trainer's max_epochs.
            mode: how the rate grows from step to step.
            early_stop_threshold: stop once the loss exceeds this many times its best value;
                null tries every rate.
        """
        return Tuner(self).lr_find(
            model, datamodule=datamodule, min_lr=min_lr, max_lr=max_lr, num_training=num_training,
            mode=mode, early_stop_threshold=early_stop_threshold, update_attr=False,
        )


class CLISteps:
    """Mixed into LitDLCLI (lit_dl.cli.app): how `lit-dl lr-find` runs and what it leaves."""

    def before_lr_find(self) -> None:
        self.console.release()

    def lr_find(self, **kwargs: Any) -> None:
        finder = self.trainer.lr_find(**kwargs)
        _remove_if_empty(RunPaths(self.session.run_dir).checkpoints)  # Lightning's temporary checkpoint has gone
        if not self.trainer.is_global_zero:
            return
        scheduler = self.config["lr_find"].model.init_args.get("scheduler")
        run_dir = self.session.run_dir
        found = write_lr_find(finder, run_dir, scheduler.class_path if scheduler else None)
        print(f"suggested learning rate: {found['suggestion']:.3g}  (loss curve: {run_dir / FIGURE_FILE})")
        print(f"train with it: {found['flag']}")
        print(run_dir, flush=True)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # holds files, or was never made
