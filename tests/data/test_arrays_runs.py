"""Through `lit-dl fit` and `predict`: what ArrayDataModule chose from the data (the scaling mode,
relabelled classes) and the net experiments/arrays.yaml picks are printed and recorded, and a
checkpoint carries the input scaler, so predictions are made on raw inputs as in training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.helpers.paths import EXPERIMENTS

ARRAYS = EXPERIMENTS / "arrays.yaml"


def image_arrays(labels=(0, 1, 2), n_train=120, n_test=30, seed=0) -> dict[str, np.ndarray]:
    """8x8 one-channel "images" on a 0-255 scale whose brightness tells the class."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = np.asarray(labels)[np.arange(n) % len(labels)]
        x = rng.uniform(0, 60, (n, 64)) + 60 * np.searchsorted(np.sort(labels), y)[:, None]
        arrays |= {f"x_{split}": x.astype(np.float32), f"y_{split}": y}
    return arrays


def fit(lit_dl, tmp_path: Path, path: str, *extra: str) -> tuple[Path, str]:
    code, out, err = lit_dl(
        "fit", "--config", ARRAYS, "--data.init_args.path", path, "--trainer.default_root_dir", tmp_path / "runs",
        "--trainer.max_epochs", "2", *extra,
    )
    assert code == 0, err
    return Path(out.strip().splitlines()[-1]), out


@pytest.mark.parametrize(
    "shape, net, mode", [(None, "MLP", "feature"), ("[1,8,8]", "SimpleCNN", "channel"), ("[8,8]", "GRU", "channel")]
)
def test_arrays_recipe_picks_the_net_from_the_shape_and_records_it(lit_dl, tmp_path, write_npz, shape, net, mode):
    path = write_npz(**image_arrays())
    run_dir, out = fit(lit_dl, tmp_path, path, *(["--data.init_args.input_shape", shape] if shape else []))
    assert f"Classifier with {net}," in out
    assert f"data: ArrayDataModule (standardize {mode}; trained on val too)," in out
    results = json.loads((run_dir / "results.json").read_text())
    assert results["net"] == net and results["data"] == {"standardize": mode}
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["data"]["init_args"]["standardize"] == mode  # `auto` in the recipe, the mode used here
    assert config["model"]["init_args"]["net"]["class_path"] == "lit_dl.nets.NetForShape"


def test_labels_1_to_3_train_three_classes_named_by_their_labels(lit_dl, tmp_path, write_npz):
    path = write_npz(**image_arrays(labels=(1, 2, 3)))
    run_dir, out = fit(lit_dl, tmp_path, path)
    assert "labels 1, 2, 3 trained as classes 0..2" in out
    results = json.loads((run_dir / "results.json").read_text())
    assert results["data"]["classes"] == [1, 2, 3]
    assert results["per_class"]["labels"] == ["1", "2", "3"] and len(results["per_class"]["confusion_matrix"]) == 3
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["init_args"]["classes"] == [1, 2, 3]
    head = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]["net.head.weight"]
    assert head.shape[0] == 3  # no phantom class 0


@pytest.mark.slow
def test_a_checkpoint_keeps_the_scaler_so_predict_reads_raw_inputs(lit_dl, tmp_path, write_npz):
    arrays = image_arrays()
    run_dir, _ = fit(lit_dl, tmp_path, write_npz(**arrays), "--data.init_args.input_shape", "[1,8,8]")
    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    scaler = checkpoint["ArrayDataModule"]["input_scaler"]
    assert scaler["mode"] == "channel" and 50 < scaler["mean"].item() < 110

    # The same raw test inputs in a file whose training inputs now have another scale: predict
    # must scale them with the checkpoint's statistics, not refit on the changed file.
    changed = write_npz(**{**arrays, "x_train": arrays["x_train"] * 3 + 500})
    predictions = []
    for path in (changed, write_npz(**arrays)):
        code, out, err = lit_dl(
            "predict", "--config", run_dir / "config.yaml", "--ckpt_path", run_dir / "checkpoints" / "best.ckpt",
            "--data.init_args.path", path,
        )
        assert code == 0, err
        predictions.append(torch.load(run_dir / "predictions.pt", weights_only=True))
    torch.testing.assert_close(predictions[0], predictions[1])

    # And by hand: the raw inputs, scaled with the checkpoint's statistics, through the restored net.
    from lit_dl.nets import NetForShape
    from lit_dl.tasks import Classifier

    model = Classifier(NetForShape([1, 8, 8], 3), num_outputs=3)
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    raw = torch.from_numpy(arrays["x_test"]).reshape(-1, 1, 8, 8)
    with torch.no_grad():
        by_hand = model((raw - scaler["mean"]) / scaler["scale"])
    torch.testing.assert_close(predictions[0], by_hand, rtol=1e-4, atol=1e-4)
