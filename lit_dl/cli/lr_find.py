"""`lit-dl lr-find`: Lightning's learning-rate range test on the model and data `fit` would build.

A Trainer-backed command (lit_dl.cli.table): `TrainerMethod.lr_find` becomes the subcommand and
its flags, run with the parser, links and run-directory rules of `fit`; `CLISteps` runs it and
turns its result into what the user reads: the suggested rate, the flag that trains with it,
and lr_find.json / lr_find.png in a new version of the experiment.

The rate is the steepest fall of the loss on the way down to its lowest point, measured against
log(rate) when the rates grow exponentially (the default). Lightning 2.6's `_LRFinder.suggestion`
differentiates against the rate itself, which weighs the smallest rates of an exponential search
up to max_lr / min_lr times more: it picks batch-to-batch noise at rates that train nothing
(1e-7 on a regression), the upstream bug Lightning-AI/pytorch-lightning#14248 whose log-scale fix
(PR #21171) is not released. A search whose loss never falls suggests nothing: one line instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch import LightningModule
from lightning.pytorch.tuner import Tuner

import numpy as np

from lit_dl.errors import UserError
from lit_dl.plots import save_figure
from lit_dl.run.layout import LR_FIND_FILE, RunPaths

FILLED = ("model", "datamodule")  # the method's arguments the CLI fills
FIGURE_FILE = "lr_find.png"
# The schedulers whose peak rate is `max_lr`: the suggested rate goes there, not to the optimizer.
PEAK_RATE_SCHEDULERS = ("OneCycleLR", "CyclicLR")
OPTIMIZER_LR_FLAG = "--model.init_args.optimizer.init_args.lr"
SCHEDULER_MAX_LR_FLAG = "--model.init_args.scheduler.init_args.max_lr"
# As Lightning's suggestion: the first rates (the smoothed loss is still warming up) and the last
# one (often the blow-up) are not candidates.
SKIP_FIRST, SKIP_LAST = 10, 1
FEWEST_RATES = SKIP_FIRST + SKIP_LAST + 2  # a slope needs two points
# The loss must fall by this fraction from its highest point before its lowest one, or the rate
# made no visible difference over the whole range searched.
SMALLEST_FALL = 0.01


def suggested_flag(scheduler_class_path: str | None, rate: float) -> str:
    """The command-line flag that trains with `rate`: the one-cycle peak, else the optimizer's lr."""
    name = (scheduler_class_path or "").rsplit(".", 1)[-1]
    flag = SCHEDULER_MAX_LR_FLAG if name in PEAK_RATE_SCHEDULERS else OPTIMIZER_LR_FLAG
    return f"{flag} {rate:.3g}"


def steepest_fall(rates: Sequence[float], losses: Sequence[float], exponential: bool = True) -> int | None:
    """The index of the suggested rate: where the loss falls fastest between its highest point
    and its lowest (against log(rate) for an exponential search); None when too few rates were
    tried. A UserError when the loss never falls by SMALLEST_FALL."""
    candidates = [
        i for i in range(SKIP_FIRST, len(rates) - SKIP_LAST)
        if losses[i] is not None and math.isfinite(losses[i]) and rates[i] > 0
    ]
    if len(candidates) < 2:
        return None
    lowest = min(candidates, key=lambda i: losses[i])
    highest = max((i for i in candidates if i <= lowest), key=lambda i: losses[i])
    if losses[highest] - losses[lowest] < SMALLEST_FALL * abs(losses[highest]):
        raise UserError(
            f"lr-find: the loss never fell while the rate rose from {rates[candidates[0]]:.3g} to "
            f"{rates[candidates[-1]]:.3g} (from {losses[highest]:.4g} to at best {losses[lowest]:.4g}), so there is no "
            "rate to suggest; try a higher --max_lr or more --num_training steps, and check that the model can learn "
            "the data at all (a regression trains best on standardised targets)"
        )
    falling = [i for i in candidates if highest <= i <= lowest]
    where = [math.log(rates[i]) if exponential else rates[i] for i in falling]
    slopes = np.gradient([losses[i] for i in falling], where)
    return falling[int(np.argmin(slopes))]


def write_lr_find(finder: Any, run_dir: Path, scheduler_class_path: str | None) -> dict[str, Any]:
    """Write the numbers (lr_find.json) and the loss-by-rate figure (lr_find.png) of Lightning's
    `_LRFinder` into `run_dir`; returns what lr_find.json holds. A search too short for a
    suggestion, or whose loss never falls, is a user error, raised before anything is written."""
    rates, losses = (list(finder.results["lr"]), list(finder.results["loss"])) if finder is not None else ([], [])
    best = steepest_fall(rates, losses, exponential=getattr(finder, "mode", "exponential") == "exponential")
    if best is None:
        raise UserError(
            f"lr-find tried {len(rates)} learning rates, too few to suggest one; "
            "raise --num_training, --trainer.max_epochs or the number of training batches"
        )
    suggestion = float(rates[best])
    found = {
        "suggestion": suggestion,
        "flag": suggested_flag(scheduler_class_path, suggestion),
        "lr": [float(rate) for rate in rates],
        "loss": [float(loss) if loss is not None and math.isfinite(loss) else None for loss in losses],
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LR_FIND_FILE).write_text(json.dumps(found, indent=2) + "\n")
    figure = finder.plot(suggest=False)
    axes = figure.axes[0]
    axes.plot(rates[best], losses[best], marker="o", markersize=10, color="red")
    axes.set_title(f"suggested: {found['flag']}")
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
