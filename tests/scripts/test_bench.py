"""The benchmark harness's pieces on tiny sizes, the task options its recipes use, and the fast
CIFAR-10 recipe end to end on a tiny copy of the data. The benchmark itself never runs here:
`python scripts/bench.py`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import torch

from lit_dl.nets import MLP, SimpleCNN
from lit_dl.tasks import Classifier
from lit_dl.tasks.classifier import Accuracy

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import bench  # noqa: E402
import bench_overhead  # noqa: E402


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_overhead_worker_times_both_runners(tmp_path, one_thread, capsys):
    out = bench_overhead.main([
        "--case", "mlp", "--steps", "12", "--warmup", "2", "--repeats", "1", "--workdir", str(tmp_path),
        "--runners", "torch,lit",
    ])
    capsys.readouterr()
    assert out["steps"] == 12 and out["threads"] == 1
    for runner in ("torch", "lit"):
        assert len(out["wall_s"][runner]) == 1
        assert 0 < out["median_cpu_s"][runner] <= out["median_wall_s"][runner] * 1.5
    # The lit-dl run was a real `lit-dl fit`: a run directory with its metrics.
    assert list((tmp_path / "runs" / "mlp").glob("version_*/metrics.csv"))


def test_step_time_leaves_out_the_warm_up():
    stamps = [(0.0, 0.0), (10.0, 5.0), (11.0, 5.5), (12.0, 6.0)]
    assert bench_overhead.step_time(stamps, warmup=1) == (1.0, 0.5)


def test_throughput_and_loader_rates_are_positive():
    net = MLP((8,), 3)
    assert bench.samples_per_second(net, (8,), 16, budget_s=0.05) > 0
    from lit_dl.data import TensorBatchLoader

    loader = TensorBatchLoader((torch.randn(64, 8), torch.zeros(64, dtype=torch.long)), batch_size=16)
    assert bench.loader_batches_per_second(loader, budget_s=0.05, max_batches=20) > 0


def test_markdown_puts_the_goals_beside_the_figures():
    wall = {"torch": 1e-3, "torch_slices_fused": 0.6e-3, "lightning": 1.3e-3, "lightning_slices": 1.1e-3, "lit": 0.9e-3}
    overhead = {
        "case": "mlp", "title": "MLP", "steps": 420, "warmup": 84, "batch_size": 64, "threads": 1, "repeats": 5,
        "median_wall_s": wall, "median_cpu_s": wall,
        "ratio": {k: v / wall["torch"] for k, v in wall.items()}, "cpu_ratio": {k: v / wall["torch"] for k, v in wall.items()},
    }
    results = {
        "machine": {"cpu": "cpu", "cores": 2, "memory_gib": 8.0, "gpu": None, "os": "linux", "python": "3.11",
                    "torch": "2", "lightning": "2", "git": "abc", "date": "today"},
        "overhead": {"mlp": overhead},
        "startup": {"runs": 1, "median_s": {"import lightning": 2.0, "lit-dl --help": 2.2, "lit-dl fit --print_config": 2.7},
                    "extra_s": {"lit-dl --help": 0.2, "lit-dl fit --print_config": 0.7},
                    "heavy_imported": {"import lightning": ["rich"], "lit-dl --help": ["rich"], "lit-dl fit --print_config": ["rich"]},
                    "heavy_imported_by_lit_dl": []},
        "memory": {"command": "lit-dl fit", "peak_rss_gib": 0.8, "wall_s": 9.0, "test_acc": 0.99},
        "elapsed_s": 480.0,
    }
    text = bench.markdown(results)
    assert "| Overhead, mlp: `lit-dl fit` / hand-written loop (wall) | <= 1.00 | 0.90" in text
    assert "+0.70 s" in text and "**not met**" in text  # print_config over the 0.5 s budget
    assert "0.80 GiB | **met**" in text
    assert "8.0 min | **met**" in text


def test_accuracy_matches_torchmetrics():
    from torchmetrics.classification import MulticlassAccuracy

    predicted, target = torch.randint(0, 5, (300,)), torch.randint(0, 5, (300,))
    ours, theirs = Accuracy(), MulticlassAccuracy(5, average="micro")
    for chunk in range(3):
        part = slice(100 * chunk, 100 * (chunk + 1))
        ours.update(predicted[part], target[part])
        theirs.update(predicted[part], target[part])
    assert torch.isclose(ours.compute(), theirs.compute())


def test_optimizer_is_fused_unless_the_config_chooses():
    net = MLP((4,), 2)
    assert Classifier(net, num_outputs=2).build_optimizer().param_groups[0]["fused"] is True
    chosen = Classifier(net, num_outputs=2, optimizer=lambda p: torch.optim.SGD(p, lr=0.1, foreach=False))
    group = chosen.build_optimizer().param_groups[0]
    assert group["foreach"] is False and not group.get("fused")
    rmsprop = Classifier(net, num_outputs=2, optimizer=torch.optim.RMSprop).build_optimizer()
    assert rmsprop.param_groups[0]["foreach"] is True  # no fused RMSprop: the multi-tensor one


def test_flip_tta_averages_the_image_and_its_mirror():
    torch.manual_seed(0)
    net = SimpleCNN((3, 8, 8), 4, channels=[4], hidden_dim=8, dropout=0.0).eval()
    task = Classifier(net, num_outputs=4, tta_flip=True, channels_last=True).eval()
    images = torch.randn(2, 3, 8, 8)
    expected = (net(images) + net(images.flip(-1))) / 2
    assert torch.allclose(task.logits((images,), "test"), expected, atol=1e-6)
    assert torch.allclose(task.logits((images,), "train"), net(images), atol=1e-6)
    assert task.net.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    (converted,), _ = task._split((images, torch.zeros(2)))
    assert converted.is_contiguous(memory_format=torch.channels_last)


def test_flip_tta_on_non_images_is_a_user_error():
    from lit_dl.errors import UserError

    task = Classifier(MLP((6,), 2), num_outputs=2, tta_flip=True)
    with pytest.raises(UserError, match="tta_flip"):
        task.logits((torch.randn(3, 6),), "val")


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
