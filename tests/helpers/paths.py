"""Where the repository's files are, and a quickstart small enough for a unit test."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"
QUICKSTART = EXPERIMENTS / "quickstart.yaml"
# A few hundred samples, two epochs.
SMALL_QUICKSTART = [
    "--trainer.max_epochs", "2",
    "--data.init_args.n_train", "512",
    "--data.init_args.n_val", "256",
    "--data.init_args.n_test", "256",
    "--trainer.log_every_n_steps", "4",
]
