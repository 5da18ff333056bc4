"""Every experiment file runs end to end (`--trainer.fast_dev_run true`) on tiny data:
CIFAR-10 recipes on a tiny archive in the real on-disk format, the user's-arrays recipes on a
tiny .npz, the rest on shrunken in-memory data."""

from __future__ import annotations

import sys

import pytest
import yaml

from tests.helpers.paths import EXPERIMENTS, REPO

RUNNABLE = sorted(p for p in EXPERIMENTS.glob("*.yaml"))


def data_overrides(config: dict, tiny_cifar10, example_npz) -> list[str]:
    data_class = config["data"]["class_path"].rsplit(".", 1)[-1]
    if data_class == "CIFAR10DataModule":
        return [
            "--data.init_args.data_dir", str(tiny_cifar10), "--data.init_args.download", "false",
            "--data.init_args.verify_md5", "false", "--data.init_args.val_size", "20",
            "--data.init_args.num_workers", "0", "--data.init_args.batch_size", "8",
        ]
    if data_class == "ArrayDataModule":
        return ["--data.init_args.path", str(example_npz)]
    return ["--data.init_args.n_train", "64", "--data.init_args.n_val", "32", "--data.init_args.n_test", "32"]


@pytest.fixture(scope="module")
def example_npz(tmp_path_factory):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from make_example_arrays import main as make_example_arrays
    finally:
        sys.path.pop(0)
    return make_example_arrays(str(tmp_path_factory.mktemp("arrays") / "example.npz"), n_train=200, n_test=50)


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
        *data_overrides(config, tiny_cifar10, example_npz),
    )
    assert code == 0, err
    assert "test/" in out  # tested after fit
