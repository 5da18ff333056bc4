"""`lit-dl export` and `lit_dl.load_run` on real runs: every exported file, read back by its own
library (ONNX Runtime, `torch.export.load`, safetensors into a model rebuilt from config.yaml),
reproduces the trained model on raw inputs, with the data's scaling and the targets' units built
in; `lit-dl predict` writes a table a spreadsheet opens."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lit_dl import __version__, load_run
from lit_dl.errors import UserError
from tests.helpers.paths import EXPERIMENTS, QUICKSTART, SMALL_QUICKSTART
from tests.helpers.runs import lit_dl_in_process, train

FORMATS = {"onnx": ".onnx", "torch-export": ".pt2", "safetensors": ".safetensors"}


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("export") / "runs", QUICKSTART, *SMALL_QUICKSTART)


def read_back(format_name: str, path: Path, run_dir: Path):
    """The exported file as a user without lit-dl's export code reads it: (a function from raw
    inputs to outputs, the metadata the file itself holds)."""
    if format_name == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return (lambda x: torch.from_numpy(session.run(None, {"inputs": x.numpy()})[0])), session.get_modelmeta().custom_metadata_map
    if format_name == "torch-export":
        extra = {"lit_dl.json": ""}
        module = torch.export.load(str(path), extra_files=extra).module()
        return module, json.loads(extra["lit_dl.json"])
    from safetensors import safe_open
    from safetensors.torch import load_model

    from lit_dl.cli.rebuild import build_task_and_data
    from lit_dl.export.model import user_model

    model = user_model(*build_task_and_data([run_dir / "config.yaml"]))  # fresh weights
    load_model(model, str(path))
    with safe_open(str(path), "pt") as opened:
        return model.eval(), opened.metadata()


@pytest.mark.parametrize("format_name", FORMATS)
def test_the_quickstart_exports_and_the_file_reproduces_the_trained_model(format_name, quickstart_run, lit_dl):
    run = load_run(quickstart_run)
    x_test = run.datamodule.splits["test"][0]
    with torch.no_grad():
        trained = torch.softmax(run.task(x_test), dim=1)  # the Lightning module itself

    code, out, err = lit_dl("export", quickstart_run, "--format", format_name)

    assert code == 0, err
    *notes, checked, written = out.strip().splitlines()
    path = quickstart_run / "export" / f"best{FORMATS[format_name]}"
    assert Path(written) == path and path.is_file() and not notes
    assert "on 64 test inputs: largest absolute difference" in checked and "(tolerance 0.0001" in checked
    model, embedded = read_back(format_name, path, quickstart_run)
    with torch.no_grad():
        torch.testing.assert_close(model(x_test), trained, atol=1e-5, rtol=1e-4)
        assert model(x_test[:1]).shape == (1, 3) and model(x_test[:7]).shape == (7, 3)  # any batch size
    sidecar = json.loads(Path(f"{path}.json").read_text())
    assert sidecar["checkpoint"] == str((quickstart_run / "checkpoints" / "best.ckpt").resolve())
    assert sidecar["lit_dl_version"] == __version__ and sidecar["run"] == str(quickstart_run.resolve())
    assert sidecar["input"]["shape"] == ["batch", 2] and sidecar["output"]["class_names"] == ["0", "1", "2"]
    assert sidecar["check"]["max_abs_difference"] <= 1e-4 and sidecar["check"]["test_inputs"] == 64
    # The file holds the same record, each value as text (JSON where it is not a string).
    assert json.loads(embedded["output"])["class_names"] == ["0", "1", "2"] and embedded["lit_dl_version"] == __version__
    assert json.loads(embedded["input"])["shape"] == ["batch", 2] and embedded["checkpoint"] == sidecar["checkpoint"]


def test_load_run_gives_the_trained_task_its_data_and_predict_on_raw_inputs(quickstart_run):
    run = load_run(quickstart_run)
    task, data = run
    assert not task.training and type(task).__name__ == "Classifier" and type(data).__name__ == "ToyClassificationDataModule"
    assert run.checkpoint.name == "best.ckpt" and run.class_names == ["0", "1", "2"]
    x_test, y_test = data.splits["test"]
    probabilities = run.predict(x_test.numpy())
    with torch.no_grad():
        torch.testing.assert_close(probabilities, torch.softmax(task(x_test), dim=1))
    assert (probabilities.argmax(1) == y_test).float().mean() > 0.5  # it learned something
    assert run.predict([0.1, 0.5]).shape == (1, 3)  # one sample, as a list
    with pytest.raises(UserError, match=r"inputs of shape \[4, 3\] do not fit this run: it takes samples of shape \[2\]"):
        run.predict(np.zeros((4, 3)))
    last = load_run(quickstart_run, checkpoint="last")
    assert last.checkpoint.name == "last.ckpt"
    from_file = load_run(quickstart_run / "checkpoints" / "last.ckpt")
    torch.testing.assert_close(from_file.predict(x_test), last.predict(x_test))


def test_import_lit_dl_stays_light():
    code = "import sys, lit_dl; assert callable(lit_dl.load_run); print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning', 'onnx')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def regression_arrays(path: Path) -> Path:
    """Twelve features far from zero mean and unit scale, targets around 1000: a regression whose
    inputs the DataModule standardises and whose targets it trains on standardised."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)) * 50 + 10
    y = (x[:, :2].sum(1, keepdims=True) * 3 + 1000).astype(np.float32)
    np.savez(path, x_train=x[:240], y_train=y[:240], x_test=x[240:], y_test=y[240:])
    return path


def test_user_arrays_export_with_their_scaling_and_predict_in_the_targets_units(tmp_path):
    arrays = str(regression_arrays(tmp_path / "prices.npz"))
    flags = ["--data.init_args.path", arrays, "--data.init_args.standardize", "true", "--data.init_args.input_shape", "[3,4]"]
    run_dir = train(tmp_path / "runs", EXPERIMENTS / "arrays_mlp.yaml", *flags, "--trainer.max_epochs", "3")
    code, out = lit_dl_in_process(["predict", "--config", str(EXPERIMENTS / "arrays_mlp.yaml"), *flags,
                                   "--trainer.default_root_dir", str(tmp_path / "runs"), "--ckpt_path", "best"])
    assert code == 0, out
    predicted = torch.load(run_dir / "predictions.pt")
    assert predicted.shape == (60, 1) and predicted.mean() > 500  # in the targets' units
    with open(run_dir / "predictions.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["id", "prediction"] and [row[0] for row in rows[1:]] == [str(i) for i in range(60)]
    np.testing.assert_allclose([float(row[1]) for row in rows[1:]], predicted[:, 0].numpy(), rtol=1e-5)

    code, out = lit_dl_in_process(["export", str(run_dir), "--format", "onnx"])
    assert code == 0, out
    model, embedded = read_back("onnx", Path(out.strip().splitlines()[-1]), run_dir)
    raw = torch.from_numpy(np.load(arrays)["x_test"].astype(np.float32))  # as the file holds them, 12 features
    torch.testing.assert_close(model(raw), predicted, rtol=1e-4, atol=1e-3)
    described = json.loads(embedded["input"])
    assert described["shape"] == ["batch", 12] and described["preprocessing"].startswith("reshaped to [3, 4], standardised")
    assert json.loads(embedded["output"])["name"] == "predictions"


def test_predictions_table_of_a_classifier(quickstart_run):
    code, out = lit_dl_in_process(["predict", "--config", str(QUICKSTART), *SMALL_QUICKSTART,
                                   "--trainer.default_root_dir", str(quickstart_run.parent.parent), "--ckpt_path", "best"])
    assert code == 0, out
    assert f"predictions table: {quickstart_run / 'predictions.csv'}" in out
    with open(quickstart_run / "predictions.csv", newline="") as file:
        header, *rows = list(csv.reader(file))
    assert header == ["id", "predicted_class", "probability_0", "probability_1", "probability_2"] and len(rows) == 256
    probabilities = np.array([[float(v) for v in row[2:]] for row in rows])
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    assert [row[1] for row in rows] == [str(i) for i in probabilities.argmax(1)]
    logits = torch.load(quickstart_run / "predictions.pt")
    np.testing.assert_allclose(probabilities, torch.softmax(logits, 1).numpy(), atol=1e-6)


def test_a_sequence_run_keeps_its_length_free_in_onnx_and_says_where_it_cannot(tmp_path):
    run_dir = train(tmp_path / "runs", EXPERIMENTS / "gru_sequences.yaml", "--trainer.max_epochs", "1",
                    "--data.init_args.n_train", "64", "--data.init_args.n_val", "32", "--data.init_args.n_test", "32")
    code, out = lit_dl_in_process(["export", str(run_dir), "--format", "onnx"])
    assert code == 0 and len(out.strip().splitlines()) == 2, out
    model, embedded = read_back("onnx", run_dir / "export" / "best.onnx", run_dir)
    assert json.loads(embedded["input"])["steps"] == "any"
    run = load_run(run_dir)
    longer = torch.randint(0, 2, (5, 13, 1)).float()  # trained on 8 steps
    torch.testing.assert_close(model(longer), run.predict(longer), atol=1e-5, rtol=1e-4)

    code, out = lit_dl_in_process(["export", str(run_dir), "--format", "torch-export"])
    assert code == 0, out
    assert out.splitlines()[0] == (
        "GRU: the torch-export file takes sequences of exactly 8 steps: its exporter unrolls the recurrent layers over them"
    )
