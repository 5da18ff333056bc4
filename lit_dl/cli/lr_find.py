"""`lit-dl lr-find`: Lightning's learning-rate range test on the model and data `fit` would build.

LightningCLI makes a subcommand of a Trainer method of the same name (its arguments become the
subcommand's flags, its docstring's first line the help), so the range test is `LitDLTrainer.
lr_find` (lit_dl.cli.app), run with the parser, links and run-directory rules of `fit`. This
module turns its result into what the user reads: the suggested rate, the flag that trains with
it, and lr_find.json / lr_find.png in the run directory.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lit_dl.errors import UserError
from lit_dl.plots import save_figure
from lit_dl.run.layout import LR_FIND_FILE

LR_FIND = "lr_find"  # LightningCLI's name of the subcommand (a Trainer method's); users type `lr-find`
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
