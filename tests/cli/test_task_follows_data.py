"""Through the CLI: the arrays recipes train whatever task the data holds with no edit, a task
that contradicts the data ends in one line before training, and fit tests the best checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from tests.helpers.paths import EXPERIMENTS

ARRAYS_MLP = EXPERIMENTS / "arrays_mlp.yaml"


def regression_npz(path: Path) -> str:
    """Scores around 150 (whole numbers, like scikit-learn's diabetes): regression, not classes."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=5)
    x_train, x_test = rng.normal(size=(160, 5)), rng.normal(size=(40, 5))
    np.savez(path, x_train=x_train, y_train=np.round(150 + 40 * x_train @ w),
             x_test=x_test, y_test=np.round(150 + 40 * x_test @ w))
    return str(path)


def test_arrays_recipe_trains_a_regressor_on_float_targets(lit_dl, tmp_path):
    code, out, err = lit_dl(
        "fit", "--config", ARRAYS_MLP, "--data.init_args.path", regression_npz(tmp_path / "scores.npz"),
        "--trainer.default_root_dir", tmp_path / "runs", "--trainer.max_epochs", "3",
    )
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])
    test = json.loads((run_dir / "results.json").read_text())["test"]
    assert {"test/mse", "test/mae", "test/loss"} <= set(test) and "test/acc" not in test
    # Logged in the targets' units: a model that learned anything errs by less than the targets' spread,
    # while its loss is on the standardised scale.
    assert 0 < test["test/mse"] < 40**2 * 5 and test["test/loss"] < 2
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["class_path"] == "lit_dl.tasks.Supervised"


def test_classifier_on_continuous_targets_is_one_line_before_training(lit_dl, tmp_path):
    code, out, err = lit_dl(
        "fit", "--config", ARRAYS_MLP, "--data.init_args.path", regression_npz(tmp_path / "scores.npz"),
        "--model.class_path", "lit_dl.tasks.Classifier", "--trainer.default_root_dir", tmp_path / "runs",
    )
    assert code == 2 and out == ""
    message = err.strip().splitlines()[-1]
    assert message.startswith("lit-dl: error: the data holds continuous targets (regression)")
    assert "lit_dl.tasks.Supervised" in message
    assert not list((tmp_path / "runs").glob("*/*/checkpoints/*.ckpt"))


def test_fit_tests_the_best_checkpoint(lit_dl, tmp_path, write_npz):
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 3
    x = rng.normal(size=(200, 6)) + labels[:, None]
    path = write_npz(x_train=x[:150], y_train=labels[:150], x_test=x[150:], y_test=labels[150:])
    root = tmp_path / "runs"
    code, out, err = lit_dl("fit", "--config", ARRAYS_MLP, "--data.init_args.path", path,
                            "--trainer.default_root_dir", root, "--trainer.max_epochs", "3")
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])
    results = json.loads((run_dir / "results.json").read_text())
    assert Path(results["best_checkpoint"]).name == "best.ckpt"
    code, out, err = lit_dl("test", "--config", run_dir / "config.yaml", "--ckpt_path", results["best_checkpoint"])
    assert code == 0, err
    evaluation = json.loads((run_dir / "results.json").read_text())["evaluations"][-1]["metrics"]
    assert evaluation["test/acc"] == results["test"]["test/acc"]
    assert evaluation["test/loss"] == results["test"]["test/loss"]


def test_the_supervised_task_flips_no_images_unless_asked(lit_dl):
    """The parser takes Supervised's defaults from its `__init__` (its `__new__` builds the task):
    without a word about tta_flip, a recipe on regression targets must not ask for the flip."""
    code, out, err = lit_dl("fit", "--config", EXPERIMENTS / "arrays.yaml", "--print_config")
    assert code == 0, err
    model = yaml.safe_load(out)["model"]
    assert model["class_path"] == "lit_dl.tasks.Supervised" and model["init_args"]["tta_flip"] is False
