"""Every optimizer and LR schedule a researcher expects, chosen in YAML, builds and steps."""

from __future__ import annotations

import csv
import json

import pytest


def logged_column(run_dir, name):
    with open(run_dir / "metrics.csv", newline="") as file:
        return [float(row[name]) for row in csv.DictReader(file) if row.get(name)]


OPTIMIZERS = {
    "sgd_nesterov": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1, "momentum": 0.9, "nesterov": True}},
    "adam": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}},
    "adamw": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "weight_decay": 0.01}},
    "rmsprop": {"class_path": "torch.optim.RMSprop", "init_args": {"lr": 0.003}},
    "adagrad": {"class_path": "torch.optim.Adagrad", "init_args": {"lr": 0.1}},
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_builds_and_trains(fit_quickstart, name):
    run_dir = fit_quickstart(
        "--model.init_args.optimizer", json.dumps(OPTIMIZERS[name]),
        "--model.init_args.scheduler", "null",
        "--trainer.max_epochs", "3",
    )
    losses = logged_column(run_dir, "train/loss")
    assert losses[-1] < losses[0]
    lr_column = f"lr-{OPTIMIZERS[name]['class_path'].rsplit('.', 1)[-1]}"
    assert logged_column(run_dir, lr_column)[0] == OPTIMIZERS[name]["init_args"]["lr"]


SCHEDULERS = {
    "step": {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 1, "gamma": 0.5}},
    "exponential": {"class_path": "torch.optim.lr_scheduler.ExponentialLR", "init_args": {"gamma": 0.5}},
    "cosine": {"class_path": "torch.optim.lr_scheduler.CosineAnnealingLR", "init_args": {"T_max": 3}},
    # A threshold no epoch can beat: the plateau is reached at once and the LR must drop.
    "plateau": {
        "class_path": "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "init_args": {"patience": 0, "factor": 0.5, "threshold": 100.0, "threshold_mode": "abs"},
    },
    "one_cycle": {"class_path": "torch.optim.lr_scheduler.OneCycleLR", "init_args": {"max_lr": 0.05}},
}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_changes_the_logged_lr(fit_quickstart, name):
    run_dir = fit_quickstart("--model.init_args.scheduler", json.dumps(SCHEDULERS[name]), "--trainer.max_epochs", "3")
    lrs = logged_column(run_dir, "lr-AdamW")
    assert len(set(lrs)) > 1, lrs
    if name != "one_cycle":  # the one-cycle schedule warms up first
        assert lrs[-1] < lrs[0]


def test_one_cycle_is_stepped_per_batch_over_the_whole_run(fit_quickstart):
    run_dir = fit_quickstart("--model.init_args.scheduler", json.dumps(SCHEDULERS["one_cycle"]), "--trainer.max_epochs", "3")
    lrs = logged_column(run_dir, "lr-AdamW")
    peak = lrs.index(max(lrs))
    assert 0 < peak < len(lrs) - 1  # warms up inside the first epoch, anneals to the end
    assert lrs[-1] < lrs[0]  # total_steps came from the trainer: the run ends annealed


def test_resuming_a_one_cycle_run_with_more_epochs_is_a_clear_error(fit_quickstart, lit_dl, tmp_path):
    from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART

    run_dir = fit_quickstart("--trainer.max_epochs", "1", "--test_after_fit", "false")
    last = run_dir / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    code, _, err = lit_dl(
        "fit", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path / "runs", *SMALL_QUICKSTART,
        "--trainer.max_epochs", "3", "--ckpt_path", "last",
    )
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("lit-dl: error: this run's one-cycle LR schedule was planned for 8 steps")
    assert last.read_bytes() == before


def _param_group_flags(run_dir):
    import torch

    group = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["optimizer_states"][0]["param_groups"][0]
    return bool(group.get("fused")), bool(group.get("foreach"))


def test_clipping_accumulation_and_mixed_precision_with_the_default_optimizer(fit_quickstart):
    # Lightning cannot clip a fused optimizer under mixed precision: the task picks foreach then.
    run_dir = fit_quickstart(
        "--trainer.gradient_clip_val", "0.5", "--trainer.accumulate_grad_batches", "2",
        "--trainer.precision", "bf16-mixed", "--trainer.max_epochs", "1",
    )
    assert _param_group_flags(run_dir) == (False, True)
    assert json.loads((run_dir / "results.json").read_text())["test"]["test/acc"] > 0.4
    # Without mixed precision, clipping a fused optimizer works, and the faster one is kept.
    assert _param_group_flags(fit_quickstart("--trainer.gradient_clip_val", "0.5", "--trainer.max_epochs", "1")) == (True, False)


def test_a_fused_optimizer_the_user_asked_for_cannot_be_clipped_under_mixed_precision(lit_dl, tmp_path):
    from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART

    code, out, err = lit_dl(
        "fit", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *SMALL_QUICKSTART,
        "--trainer.gradient_clip_val", "1", "--trainer.precision", "bf16-mixed",
        "--model.init_args.optimizer.init_args.fused", "true",
    )
    last = err.strip().splitlines()[-1]  # raised when the trainer builds the optimizer
    assert code == 2 and last.startswith("lit-dl: error:") and "fused" in last and "gradient_clip_val" in last
    assert "Traceback" not in err
