"""`lit-dl lr-find`: Lightning's learning-rate range test on the experiment `fit` would run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lit_dl.cli.lr_find import steepest_fall, suggested_flag
from lit_dl.errors import UserError
from tests.helpers.paths import EXPERIMENTS, QUICKSTART, SMALL_QUICKSTART

# Enough training steps for a suggestion (Lightning skips the first 10 rates): 8 batches an epoch x 3.
SHORT_SEARCH = [*SMALL_QUICKSTART, "--trainer.max_epochs", "3", "--num_training", "20"]


def test_lr_find_suggests_the_one_cycle_peak_and_writes_its_curve(lit_dl, fit_quickstart, tmp_path):
    root = tmp_path / "runs"
    code, out, err = lit_dl("lr-find", "--config", QUICKSTART, "--trainer.default_root_dir", root, *SHORT_SEARCH)
    assert code == 0, err
    lines = out.strip().splitlines()
    run_dir = Path(lines[-1])
    assert run_dir == root / "quickstart" / "version_0"  # a new version of the experiment, as fit makes
    found = json.loads((run_dir / "lr_find.json").read_text())
    assert 1e-8 < found["suggestion"] < 1
    assert len(found["lr"]) == len(found["loss"]) == 20
    # The quickstart trains with OneCycleLR: the suggestion is its peak rate.
    assert found["flag"] == f"--model.init_args.scheduler.init_args.max_lr {found['suggestion']:.3g}"
    assert any(line.endswith(found["flag"]) for line in lines)
    assert (run_dir / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert "model" in saved and not {"num_training", "min_lr", "max_lr", "mode"} & set(saved), "reruns with fit"
    assert not (run_dir / "checkpoints").exists(), "Lightning's temporary checkpoint is removed"
    assert not (run_dir / "results.json").exists(), "an lr-find is no training run"

    # A training run after it is the next version, and `best` means that run, not the search.
    trained = fit_quickstart("--trainer.max_epochs", "1", "--test_after_fit", "false")
    assert trained.name == "version_1"
    (trained.parent / "version_2").mkdir()
    (trained.parent / "version_2" / "lr_find.json").write_text("{}")  # a later search
    code, out, err = lit_dl("test", "--config", QUICKSTART, "--trainer.default_root_dir", root, *SMALL_QUICKSTART, "--ckpt_path", "best")
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(trained)


def test_flag_is_the_one_cycle_peak_or_the_optimizer_lr():
    for scheduler in ("torch.optim.lr_scheduler.OneCycleLR", "torch.optim.lr_scheduler.CyclicLR"):
        assert suggested_flag(scheduler, 0.0123456) == "--model.init_args.scheduler.init_args.max_lr 0.0123"
    for scheduler in (None, "torch.optim.lr_scheduler.CosineAnnealingLR"):
        assert suggested_flag(scheduler, 3e-4) == "--model.init_args.optimizer.init_args.lr 0.0003"


def test_lr_find_is_listed_in_the_help(lit_dl):
    code, out, _ = lit_dl("--help")
    assert code == 0
    assert "lr-find" in out and "Suggest a learning rate" in out  # in the command list
    code, out, _ = lit_dl("lr-find", "--help")
    assert code == 0 and "--num_training" in out and "--min_lr" in out


def test_too_short_a_search_is_one_line_and_leaves_nothing(lit_dl, tmp_path):
    # 20 rates asked for, but one epoch has 8 batches: the search ends there.
    code, out, err = lit_dl(
        "lr-find", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *SMALL_QUICKSTART,
        "--trainer.max_epochs", "1", "--num_training", "20",
    )
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("lit-dl: error: lr-find tried 8 learning rates, too few")
    assert "--num_training" in err
    assert not list((tmp_path / "quickstart").glob("version_*"))


RATES = list(np.logspace(-8, 0, 100))


def test_the_suggestion_is_the_steepest_fall_against_the_log_of_the_rate():
    """Flat noise at rates too small to train, a fall from 1e-4 to 1e-2, then a blow-up: the
    suggestion lies on the fall. Against the rate itself (Lightning 2.6) the noise at 1e-7 wins."""
    noise = np.random.default_rng(0).normal(scale=0.01, size=len(RATES))
    falling = 0.5 * np.clip((np.log10(RATES) + 4) / 2, 0, 1)  # 0 up to 1e-4, 0.5 from 1e-2 on
    losses = list(1.0 + noise - falling + np.where(np.array(RATES) > 0.3, 5.0, 0.0))
    best = steepest_fall(RATES, losses)
    assert 1e-4 < RATES[best] < 1e-2
    slopes = np.gradient(losses[10:-1], RATES[10:-1])
    assert RATES[10 + int(np.argmin(slopes))] < 1e-4, "on the rate itself the noise would win"


def test_a_loss_that_never_falls_suggests_nothing():
    rising = [1.0 + 0.001 * i for i in range(len(RATES))]
    with pytest.raises(UserError, match="never fell.*--max_lr"):
        steepest_fall(RATES, rising)
    assert steepest_fall(RATES[:12], rising[:12]) is None  # too few rates: the caller says so


def test_a_search_whose_loss_never_falls_is_refused_in_one_line(lit_dl, tmp_path):
    code, out, err = lit_dl(
        "lr-find", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *SMALL_QUICKSTART,
        "--max_lr", "1e-6", "--num_training", "16",
    )
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].startswith("lit-dl: error: lr-find: the loss never fell"), err
    assert not list((tmp_path / "quickstart").glob("version_*"))


def test_a_regression_with_large_targets_gets_a_rate_that_trains(lit_dl, tmp_path):
    """Targets around 500: the rate suggested is where the loss falls, not the noise at 1e-7."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    y = (500 + 40 * x @ np.array([3.0, 1.0, -2.0, 0.5]) + rng.normal(size=600)).astype(np.float32)
    data = tmp_path / "targets_near_500.npz"
    np.savez(data, x_train=x[:500], y_train=y[:500], x_test=x[500:], y_test=y[500:])
    code, out, err = lit_dl(
        "lr-find", "--config", EXPERIMENTS / "arrays_mlp.yaml", "--data.init_args.path", data,
        "--trainer.default_root_dir", tmp_path / "runs",
    )
    assert code == 0, err
    found = json.loads((Path(out.strip().splitlines()[-1]) / "lr_find.json").read_text())
    assert 1e-4 < found["suggestion"] < 0.5, found["suggestion"]
