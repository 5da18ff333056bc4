"""A bad sweep file is one line and exit code 2 before any trial starts: no record, no run.

The option names and the value types are checked against the experiment's own parser (one
`python -m lit_dl.cli.parse_check` process); ranges, choices and early termination by the sweep.
"""

from __future__ import annotations

import pytest
from tests.helpers.paths import QUICKSTART

LR = "model.init_args.optimizer.init_args.lr"
MAX_LR = "model.init_args.scheduler.init_args.max_lr"
CASES = [
    # (id, sweep file after `config:`, extra sweep flags, fragments of the one error line)
    ("misspelt option", f"parameters:\n  model.init_args.optimzer.init_args.lr: [0.1, 0.2]\n", [], ["optimzer", "unknown option"]),
    ("value of the wrong type in a later grid point", f"parameters:\n  {MAX_LR}: [0.01, oops]\n", [], ["max_lr", "'oops'"]),
    ("distribution bound of the wrong type", "method: random\ncount: 2\nparameters:\n  trainer.max_epochs: {distribution: uniform, min: 1, max: 2}\n",
     [], ["max_epochs", "= 1.0"]),
    ("low above high", f"method: bayes\ncount: 4\nparameters:\n  {LR}: {{distribution: uniform, min: 0.1, max: 0.01}}\n", [], [LR, "min 0.1 > max 0.01"]),
    ("log scale from zero", f"method: bayes\ncount: 4\nparameters:\n  {LR}: {{distribution: log_uniform_values, min: 0, max: 0.1}}\n", [], [LR, "min > 0"]),
    ("empty choice", f"parameters:\n  {LR}: {{values: []}}\n", [], [LR, "empty choice"]),
    ("empty list", f"parameters:\n  {LR}: []\n", [], [LR, "empty choice"]),
    ("q of zero", f"method: random\ncount: 2\nparameters:\n  {LR}: {{distribution: q_uniform, min: 0, max: 1, q: 0}}\n", [], [LR, "q > 0"]),
    ("unknown early termination", f"early_terminate: {{type: asha}}\nparameters:\n  {LR}: [0.1]\n", [], ["early_terminate", "asha"]),
    ("hyperband eta of one", f"early_terminate: {{type: hyperband, eta: 1}}\nparameters:\n  {LR}: [0.1]\n", [], ["eta", ">= 2"]),
    ("seeds twice", "parameters:\n  seed_everything: [0, 1]\n", ["--seeds", "2"], ["seed_everything", "--seeds"]),
    ("zero seeds", f"parameters:\n  {LR}: [0.1]\n", ["--seeds", "0"], ["--seeds 0"]),
    ("misspelt flag for every trial", f"parameters:\n  {LR}: [0.1]\n", ["--", "--trainer.max_epochz", "2"], ["flags given to every trial", "max_epochz"]),
    ("zero workers", f"parameters:\n  {LR}: [0.1]\n", ["--workers", "0"], ["--workers 0"]),
    ("unknown method flag", f"parameters:\n  {LR}: [0.1]\n", ["--method", "hyperopt"], ["method", "hyperopt"]),
]


@pytest.mark.parametrize(("text", "flags", "names"), [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_a_bad_sweep_file_is_one_line_before_any_trial(lit_dl, tmp_path, text, flags, names):
    path = tmp_path / "bad.yaml"
    path.write_text(f"config: {QUICKSTART}\n{text}")
    root = tmp_path / "runs"

    tail = [] if "--" in flags else ["--", "--trainer.max_epochs", "1"]
    code, out, err = lit_dl("sweep", path, "--root", root, *flags, *tail)

    assert code == 2 and out == "", out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lit-dl: error: "), err
    assert all(name in lines[0] for name in names), lines[0]
    assert not root.exists()  # no record, no trial
