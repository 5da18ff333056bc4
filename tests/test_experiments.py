"""Every experiment file runs end to end (`--trainer.fast_dev_run true`) on tiny data:
CIFAR-10 recipes on a tiny archive in the real on-disk format, the user's-arrays recipes on a
tiny .npz, the rest on shrunken in-memory data. Also: the quickstart logs its loss every n steps,
and the fast CIFAR-10 recipe runs a whole (tiny) epoch with its options on the CPU.

And every experiment with every trainer preset of experiments/trainer/ runs one step on the CPU.
The preset's precision is kept (a CPU runs bf16-mixed; Lightning turns the GPU preset's 16-mixed
into bf16-mixed there) and only the accelerator and the device count are switched to one CPU
process, so that what a GPU user combines first (a recipe with `gradient_clip_val` and
`gpu_bf16.yaml`) is exercised here. DDP runs as a one-process group.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from tests.helpers.paths import REPO
from tests.helpers.recipes import RECIPES, TRAINER_PRESETS, tiny_data, write_example_npz

RUNNABLE = RECIPES
ON_ONE_CPU = ["--trainer.accelerator", "cpu", "--trainer.devices", "1"]
# One recipe per kind of data and net keeps the default suite short; the whole matrix is slow.
QUICK = {"quickstart", "cnn_cifar10", "lstm_sequences", "arrays_gru"}


@pytest.fixture(scope="module")
def example_npz(tmp_path_factory) -> str:
    return write_example_npz(tmp_path_factory.mktemp("arrays") / "example.npz")


def test_every_required_experiment_exists():
    names = {p.stem for p in RUNNABLE}
    required = {
        "quickstart", "perceptron", "mlp", "cnn_cifar10", "resnet18_cifar10", "inception_cifar10",
        "mobilenet_cifar10", "vit_cifar10", "rnn_sequences", "lstm_sequences", "bilstm_sequences",
        "gru_sequences", "transformer_sequences", "arrays_mlp", "arrays_cnn", "arrays_gru",
    }
    assert required <= names, required - names


@pytest.mark.parametrize("experiment", RUNNABLE, ids=lambda p: p.stem)
def test_experiment_runs_one_batch(experiment, lit_dl, tmp_path, tiny_cifar10, example_npz):
    config = yaml.safe_load(experiment.read_text())
    net_args = config["model"]["init_args"]["net"].get("init_args") or {}
    assert not {"input_shape", "num_outputs"} & set(net_args), "shapes come from the DataModule"
    code, out, err = lit_dl(
        "fit", "--config", experiment, "--trainer.default_root_dir", tmp_path,
        "--trainer.fast_dev_run", "true", "--trainer.accelerator", "cpu", "--trainer.precision", "32",
        *tiny_data(experiment, tiny_cifar10, example_npz),
    )
    assert code == 0, err
    assert "test/" in out  # tested after fit


def matrix():
    for experiment in RECIPES:
        for preset in TRAINER_PRESETS:
            marks = [] if experiment.stem in QUICK else [pytest.mark.slow]
            yield pytest.param(experiment, preset, id=f"{experiment.stem}-{preset.stem}", marks=marks)


@pytest.mark.parametrize(("experiment", "preset"), matrix())
def test_recipe_with_trainer_preset_runs_one_step(experiment, preset, lit_dl, tmp_path, tiny_cifar10, example_npz):
    code, out, err = lit_dl(
        "fit", "--config", experiment, "--config", preset, *ON_ONE_CPU,
        "--trainer.fast_dev_run", "true", "--trainer.default_root_dir", tmp_path,
        *tiny_data(experiment, tiny_cifar10, example_npz),
    )
    assert code == 0, err
    assert "test/" in out


def test_training_loss_is_still_logged_every_n_steps(fit_quickstart):
    # 512 samples / 64 = 8 steps an epoch, 2 epochs, log_every_n_steps 4: steps 3, 7, 11, 15.
    run_dir = fit_quickstart()
    with open(run_dir / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    logged_steps = [int(row["step"]) for row in rows if row.get("train/loss")]
    assert logged_steps == [3, 7, 11, 15]
    assert [row["train/acc"] for row in rows if row.get("train/acc")] and len([r for r in rows if r.get("val/acc")]) == 2


def test_cifar10_fast_recipe_end_to_end_on_cpu(lit_dl, tiny_cifar10, tmp_path):
    code, out, err = lit_dl(
        "fit", "--config", REPO / "experiments" / "cifar10_fast.yaml",
        "--trainer.accelerator", "cpu", "--trainer.precision", "32", "--trainer.max_epochs", "1",
        "--trainer.check_val_every_n_epoch", "1", "--trainer.default_root_dir", tmp_path / "runs",
        "--data.init_args.data_dir", tiny_cifar10, "--data.init_args.download", "false",
        "--data.init_args.verify_md5", "false", "--data.init_args.val_size", "20",
        "--data.init_args.batch_size", "8", "--data.init_args.eval_batch_size", "16",
    )
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])
    results = json.loads((run_dir / "results.json").read_text())
    assert 0.0 <= results["test"]["test/acc"] <= 1.0
    config = (run_dir / "config.yaml").read_text()
    for setting in ("channels_last: true", "tta_flip: true", "device_resident: true", "label_smoothing: 0.2"):
        assert setting in config
