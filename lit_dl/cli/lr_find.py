"""`lit-dl lr-find`: Lightning's learning-rate range test on the model and data `fit` would build.

LightningCLI makes a subcommand of a Trainer method of the same name (its arguments become the
subcommand's flags, its docstring's first line the help), so the range test is `LitDLTrainer.
lr_find` (lit_dl.cli.app), run with the parser, links and run-directory rules of `fit`. This
module turns its result into what the user reads: the suggested rate, the flag that trains with
it, and lr_find.json / lr_find.png in the run directory.

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
from typing import Any

import numpy as np

from lit_dl.errors import UserError
from lit_dl.plots import save_figure
from lit_dl.run.layout import LR_FIND_FILE

LR_FIND = "lr_find"  # LightningCLI's name of the subcommand (a Trainer method's); users type `lr-find`
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
