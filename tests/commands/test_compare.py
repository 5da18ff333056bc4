"""`lit-dl compare` on run directories written by hand: config.yaml, metrics.csv, results.json."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lit_dl.commands import compare
from tests.helpers.images import png_pixels
from tests.helpers.typed import typed

# Most runs here are written by hand, a few files each, to test the table: not whole runs.
pytestmark = pytest.mark.broken_runs("hand-written run directories for the table")


def write_run(run_dir: Path, *, lr: float, seed: int = 42, val_losses=(0.9, 0.5, 0.6), test_acc: float | None = 0.9,
              net: str = "lit_dl.nets.MLP", wall_time: float = 12.5) -> Path:
    """A finished run of three epochs (or one still going, without results.json, when test_acc is None)."""
    run_dir.mkdir(parents=True)
    config = {
        "seed_everything": seed,
        "trainer": {"max_epochs": len(val_losses), "default_root_dir": str(run_dir.parent.parent)},
        "model": {
            "class_path": "lit_dl.tasks.Classifier",
            "init_args": {
                "net": {"class_path": net, "init_args": {"hidden_dims": [64, 64]}},
                "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": lr, "weight_decay": 0.01}},
            },
        },
        "checkpoint": {"monitor": "val/loss", "mode": "min"},
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    with open(run_dir / "metrics.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["epoch", "step", "train/loss", "val/acc", "val/loss"])
        for epoch, val_loss in enumerate(val_losses):
            writer.writerow([epoch, epoch * 10 + 4, val_loss + 0.2, "", ""])
            writer.writerow([epoch, epoch * 10 + 9, val_loss + 0.1, "", ""])
            writer.writerow([epoch, epoch * 10 + 9, "", 1 - val_loss / 2, val_loss])
    if test_acc is not None:
        results = {"val": {"val/loss": val_losses[-1]}, "test": {"test/acc": test_acc, "test/loss": 1 - test_acc},
                   "epochs": len(val_losses), "wall_time_s": wall_time, "seed": seed}
        (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


@pytest.fixture
def runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    write_run(root / "mlp" / "version_0", lr=0.001, val_losses=(0.9, 0.7, 0.65), test_acc=0.80, wall_time=75)
    write_run(root / "mlp" / "version_1", lr=0.01, val_losses=(0.8, 0.4, 0.45), test_acc=0.95)
    write_run(root / "mlp" / "version_2", lr=0.1, val_losses=(1.2, 1.1), test_acc=None)  # still training
    return root


def table(lit_dl, *args) -> list[dict[str, str]]:
    code, out, err = lit_dl("compare", *args, "--format", "csv")
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


def test_table_shows_differing_settings_best_val_test_epochs_and_time(lit_dl, runs):
    rows = table(lit_dl, runs / "mlp")
    assert [row["run"] for row in rows] == ["mlp/version_0", "mlp/version_1", "mlp/version_2"]
    assert list(rows[0]) == ["run", "status", "model.init_args.optimizer.init_args.lr", "trainer.max_epochs", "val/loss (best)",
                             "test/acc", "test/loss", "epochs", "wall_time_s"]
    # Written by hand without a status: finished with results, unknown without (lit-dl writes one).
    assert [row["status"] for row in rows] == ["completed", "completed", "unknown"]
    assert [row["model.init_args.optimizer.init_args.lr"] for row in rows] == ["0.001", "0.01", "0.1"]
    assert [float(row["val/loss (best)"]) for row in rows] == [0.65, 0.4, 1.1]
    assert rows[1]["test/acc"] == "0.95" and rows[2]["test/acc"] == ""
    assert [row["epochs"] for row in rows] == ["3", "3", "2"]  # the unfinished run's from metrics.csv
    assert rows[0]["wall_time_s"] == "75"


def test_rich_and_markdown_tables_use_short_names(lit_dl, runs):
    code, out, _ = lit_dl("compare", runs / "mlp" / "version_0", runs / "mlp" / "version_1")
    assert code == 0
    assert "lr" in out and "model.init_args" not in out and "1m15s" in out
    assert lit_dl("compare", runs / "mlp" / "version_0", runs / "mlp" / "version_1", "--format", "table") == (0, out, "")  # the default
    code, out, _ = lit_dl("compare", runs / "mlp" / "version_0", runs / "mlp" / "version_1", "--format", "markdown")
    header, rule, *rows = out.strip().splitlines()
    assert header == "| run | status | lr | val/loss (best) | test/acc | test/loss | epochs | wall time |"
    assert rule.startswith("|---|---|---|---:|") and rows[0].startswith("| mlp/version_0 | completed | 0.001 | 0.65 | 0.8 |")


def test_sort_best_first_by_any_metric_or_setting(lit_dl, runs):
    by = lambda *args: [row["run"][-1] for row in table(lit_dl, runs, "--sort", *args)]  # noqa: E731
    assert by("val/loss") == ["1", "0", "2"]  # a loss: lowest first
    assert by("test/acc") == ["1", "0", "2"]  # an accuracy: highest first; runs without it last
    assert by("test/acc", "--reverse") == ["0", "1", "2"]
    assert by("lr", "--reverse") == ["2", "1", "0"]
    assert by("wall_time") == ["1", "0", "2"]
    rows = table(lit_dl, runs, "--sort", "val/acc")  # logged but not a column: added, at its best
    assert [row["run"][-1] for row in rows] == ["1", "0", "2"] and rows[0]["val/acc (best)"] == "0.8"


def test_unknown_sort_key_and_missing_runs_are_user_errors(lit_dl, runs, tmp_path):
    code, _, err = lit_dl("compare", runs, "--sort", "val/los")
    assert code == 2 and "val/loss" in err
    code, _, err = lit_dl("compare", tmp_path / "nowhere")
    assert code == 2 and "no run directory" in err


def test_globs_and_class_paths(lit_dl, runs, tmp_path):
    write_run(runs / "cnn" / "version_0", lr=0.01, net="lit_dl.nets.SimpleCNN")
    rows = table(lit_dl, str(runs / "*" / "version_1"), str(runs / "cnn"))
    assert [row["run"] for row in rows] == ["cnn/version_0", "mlp/version_1"]
    assert [row["model.init_args.net.class_path"] for row in rows] == ["SimpleCNN", "MLP"]
    assert "model.init_args.optimizer.init_args.lr" not in rows[0]  # the same in both


def test_plot_learning_curves_by_step_and_epoch(lit_dl, runs, tmp_path):
    for x in ("step", "epoch"):
        code, _, err = lit_dl("compare", runs, "--plot", tmp_path / f"curves_{x}.png", "--metric", "train/loss", "--x", x)
        assert code == 0, err
        assert (tmp_path / f"curves_{x}.png").stat().st_size > 1000
        assert err.strip() == f"learning curves: {tmp_path / f'curves_{x}.png'}"
        # 6 x 4 inches (two legend rows) at 200 dpi
        assert png_pixels(tmp_path / f"curves_{x}.png") == (1200, 800)
    run = compare.load_run(runs / "mlp" / "version_0")
    assert run.series("train/loss", "epoch") == ([0.0, 1.0, 2.0], [pytest.approx(1.05), pytest.approx(0.85), pytest.approx(0.8)])
    code, _, err = lit_dl("compare", runs, "--plot", tmp_path / "x.png", "--metric", "val/f1")
    assert code == 2 and "val/loss" in err


def test_compare_starts_without_torch_rich_or_matplotlib():
    probe = (
        "import sys; from lit_dl.commands import compare; compare.build_parser();"
        "print(sorted(m for m in ('torch', 'lightning', 'rich', 'matplotlib', 'wandb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_table_fits_80_columns_with_whole_numbers(lit_dl, runs, monkeypatch):
    for i, lr in enumerate((0.3, 0.03)):  # more test metrics than fit, and runs of two experiments
        run = write_run(runs / "long_experiment_name" / f"version_{i}", lr=lr, seed=i)
        results = json.loads((run / "results.json").read_text())
        results["test"].update({f"test/f1_{c}": 0.123456 for c in range(10)} | {"test/f1_macro": 0.5})
        (run / "results.json").write_text(json.dumps(results))
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = lit_dl("compare", runs, "--sort", "test/acc")
    assert code == 0, err
    lines = out.rstrip("\n").splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in out
    header = " ".join(line for line in lines if not line.lstrip().startswith(("mlp/", "long_", "─")))
    for shown in ("run", "status", "seed", "lr", "val/loss", "test/acc"):
        assert shown in header
    assert "mlp/version_1" in out and "0.4" in out and "unknown" in out
    assert "more column(s) not shown" in lines[-2] + lines[-1] and "--columns" in out


def test_one_experiment_is_the_title_and_columns_can_be_chosen(lit_dl, runs, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = lit_dl("compare", runs / "mlp")
    assert code == 0 and out.splitlines()[0].strip() == "mlp" and "version_2" in out and "mlp/version" not in out
    code, out, _ = lit_dl("compare", runs / "mlp", "--columns", "test/acc,lr")
    header = [line.split() for line in out.splitlines() if line.startswith("run")][0]
    assert header == ["run", "test/acc", "lr"]
    rows = table(lit_dl, runs / "mlp", "--columns", "status")
    assert list(rows[0]) == ["run", "status"]
    code, _, err = lit_dl("compare", runs / "mlp", "--columns", "test/accuracy")
    assert code == 2 and "test/acc" in err


def test_plot_into_a_directory_prints_the_file_it_wrote(lit_dl, runs, tmp_path):
    for target in (tmp_path / "plots", f"{tmp_path / 'new'}/"):
        code, _, err = lit_dl("compare", runs, "--plot", target)
        written = Path(str(target)) / "val_loss_by_step.png"
        assert code == 0 and err.strip() == f"learning curves: {written}" and written.stat().st_size > 1000
    (tmp_path / "a_file").write_text("")
    code, _, err = lit_dl("compare", runs, "--plot", tmp_path / "a_file")
    assert code == 2 and "is a file" in err


def test_a_plot_file_matplotlib_cannot_write_or_a_folder_that_cannot_be_made_is_one_line(lit_dl, runs, tmp_path):
    code, _, err = lit_dl("compare", runs, "--plot", tmp_path / "curves.docx")
    assert code == 2 and not (tmp_path / "curves.docx").exists()
    assert err.startswith(f"lit-dl: error: cannot save the plot to {tmp_path / 'curves.docx'}: ") and err.rstrip().endswith("; use .png, .pdf or .svg")
    (tmp_path / "a_file").write_text("")
    code, _, err = lit_dl("compare", runs, "--plot", tmp_path / "a_file" / "plots" / "curves.png")  # a folder under a file
    assert code == 2 and err.strip() == (f"lit-dl: error: cannot create {tmp_path / 'a_file' / 'plots'} for the plot: Not a directory; "
                                         "give a writable place")


def test_runs_of_several_monitors_are_shown_and_plotted_by_the_first_runs(lit_dl, runs, tmp_path):
    for other in ("version_1", "version_2"):
        config_file = runs / "mlp" / other / "config.yaml"
        config = yaml.safe_load(config_file.read_text())
        config_file.write_text(yaml.safe_dump({**config, "checkpoint": {"monitor": "val/acc", "mode": "max"}}))
    code, _, err = lit_dl("compare", runs, "--format", "csv", "--plot", tmp_path / "plots")
    assert code == 0 and err.strip() == f"learning curves: {tmp_path / 'plots' / 'val_loss_by_step.png'}"
    assert "val/loss (best)" in table(lit_dl, runs)[0]


def test_legend_sits_below_the_axes_with_short_labels(runs):
    import matplotlib.pyplot as plt

    loaded = [compare.load_run(path) for path in compare.find_runs([str(runs)])]
    labels = compare.plot_labels(compare.build_columns(loaded))
    assert labels == ["version_0  lr=0.001, max_epochs=3", "version_1  lr=0.01, max_epochs=3", "version_2  lr=0.1, max_epochs=2"]
    figure = compare.draw_curves(loaded, "val/loss", "epoch", labels)
    figure.canvas.draw()
    axes, legend = figure.axes[0].get_window_extent(), figure.legends[0].get_window_extent()
    assert legend.y1 <= axes.y0 and not legend.overlaps(axes)
    assert axes.height > 0.5 * figure.bbox.height and axes.width > 0.8 * figure.bbox.width
    assert tuple(figure.get_size_inches()) == pytest.approx((6.0, 3.6 + 0.2 * 2))  # three labels in two columns: two legend rows
    plt.close(figure)


def test_curves_of_fewer_than_30_points_mark_each_point(tmp_path):
    import matplotlib.pyplot as plt

    for epochs, marker in ((29, "o"), (30, "None")):
        run_dir = write_run(tmp_path / str(epochs) / "mlp" / "version_0", lr=0.01, val_losses=tuple(1 / (e + 1) for e in range(epochs)))
        figure = compare.draw_curves([compare.load_run(run_dir)], "val/loss", "epoch")
        assert figure.axes[0].lines[0].get_marker() == marker
        plt.close(figure)


def test_metric_takes_its_own_direction_and_mode_overrides_it(lit_dl, runs):
    """The runs' checkpoints follow val/loss (lower is better); val/acc is better when higher."""
    best_acc = lambda *args: [float(row["val/acc (best)"]) for row in table(lit_dl, runs / "mlp", "--metric", "val/acc", *args)]  # noqa: E731
    assert best_acc() == pytest.approx([0.675, 0.8, 0.45])  # each run's highest
    assert best_acc("--mode", "min") == pytest.approx([0.55, 0.6, 0.4])
    assert [row["run"][-1] for row in table(lit_dl, runs / "mlp", "--metric", "val/acc", "--sort", "val/acc")] == ["1", "0", "2"]
    rows = table(lit_dl, runs / "mlp", "--metric", "val/loss", "--mode", "max")
    assert [float(row["val/loss (best)"]) for row in rows] == [0.9, 0.8, 1.2]


def test_which_way_is_better_follows_the_metric_name():
    for name in ("val/acc", "test/f1_macro", "test/precision/cat", "val/recall", "val/map50", "val/auroc", "val/top5_acc"):
        assert compare._higher_is_better(name), name
    for name in ("val/loss", "val/mse", "val/mae", "val/mape", "train/loss", "lr-AdamW"):
        assert not compare._higher_is_better(name), name


def test_unknown_metric_is_one_line_with_a_did_you_mean(lit_dl, runs):
    code, out, err = lit_dl("compare", runs / "mlp", "--metric", "val/nosuch")
    assert code == 2 and out == ""
    assert err.startswith("lit-dl: error: --metric 'val/nosuch': no run logged it; did you mean 'val/loss'?")


def test_any_setting_is_a_column_by_its_short_name(lit_dl, runs):
    rows = table(lit_dl, runs / "mlp", "--columns", "status,weight_decay,seed,lr")
    assert list(rows[0]) == ["run", "status", "model.init_args.optimizer.init_args.weight_decay", "seed_everything",
                             "model.init_args.optimizer.init_args.lr"]
    assert [row["model.init_args.optimizer.init_args.weight_decay"] for row in rows] == ["0.01"] * 3  # the same in every run
    code, _, err = lit_dl("compare", runs / "mlp", "--columns", "init_args")
    assert code == 2 and "--columns" in err


def test_a_best_value_missing_from_a_cut_metrics_csv_is_marked(lit_dl, runs):
    """metrics.csv lost its rows after epoch 0; results.json recorded val/loss 0.4 (its best)."""
    run = runs / "mlp" / "version_1"
    results = json.loads((run / "results.json").read_text())
    (run / "results.json").write_text(json.dumps({**results, "val": {"val/loss": 0.4}}))
    lines = (run / "metrics.csv").read_text().splitlines(keepends=True)
    (run / "metrics.csv").write_text("".join(lines[:4]))  # the header and epoch 0: val/loss 0.8
    code, out, err = lit_dl("compare", runs / "mlp", "--format", "markdown")
    assert code == 0, err
    row = next(line for line in out.splitlines() if "version_1" in line)
    assert "| 0.4* |" in row
    assert err.startswith(f"* {run}: results.json records val/loss 0.4, better than the best in its metrics.csv (0.8)")
    rows = table(lit_dl, runs / "mlp")
    assert rows[1]["val/loss (best)"] == "0.4"


def test_an_unknown_sort_key_lists_the_columns_and_logged_metrics_to_choose_from(lit_dl, runs):
    code, out, err = lit_dl("compare", runs / "mlp", "--sort", "nosuch")
    assert code == 2 and out == ""
    assert err == ("lit-dl: error: cannot sort by 'nosuch': no such column or logged metric; choose one of status, lr, max_epochs, val/loss, "
                   "test/acc, test/loss, epochs, wall_time, train/loss, val/acc\n")


@pytest.mark.parametrize(("seconds", "shown"), [(0.04, "0.0s"), (59.94, "59.9s"), (60, "1m00s"), (61.4, "1m01s"), (3599.4, "59m59s"),
                                                (3599.6, "1h00m"), (3600, "1h00m"), (3661, "1h01m"), (36000, "10h00m")])
def test_wall_times_read_in_seconds_minutes_or_hours(seconds, shown):
    assert compare._duration(seconds) == shown


def test_reverse_without_sort_turns_the_table_upside_down_and_status_picks_runs(lit_dl, runs):
    assert [row["run"][-1] for row in table(lit_dl, runs / "mlp", "--reverse")] == ["2", "1", "0"]
    assert [row["run"][-1] for row in table(lit_dl, runs / "mlp", "--status", "unknown")] == ["2"]
    assert [row["run"][-1] for row in table(lit_dl, runs / "mlp", "--status", "completed,unknown", "--sort", "epochs")] == ["2", "0", "1"]


def test_the_runs_monitor_named_by_metric_keeps_its_checkpoints_mode(lit_dl, tmp_path):
    """--metric naming the checkpoint's own monitor takes the mode the run's checkpoint used (here
    a monitor whose name alone would say lower is better); another metric goes by its name."""
    run_dir = write_run(tmp_path / "runs" / "mlp" / "version_0", lr=0.01, val_losses=(0.9, 0.5, 0.6))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["checkpoint"] = {"monitor": "val/loss", "mode": "max"}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    assert float(table(lit_dl, run_dir, "--metric", "val/loss")[0]["val/loss (best)"]) == pytest.approx(0.9)
    assert float(table(lit_dl, run_dir, "--metric", "train/loss")[0]["train/loss (best)"]) == pytest.approx(0.6)


def test_a_log_scale_for_losses_falling_over_decades_and_integer_epochs_and_steps(tmp_path):
    import matplotlib.pyplot as plt

    steep = write_run(tmp_path / "a" / "mlp" / "version_0", lr=0.01, val_losses=(10.0, 1.0, 0.1))
    flat = write_run(tmp_path / "b" / "mlp" / "version_0", lr=0.01, val_losses=(3.0, 2.0, 1.0))
    to_zero = write_run(tmp_path / "c" / "mlp" / "version_0", lr=0.01, val_losses=(2.0, 0.5, 0.0))  # a loss that reaches 0 exactly
    for run_dir, metric, scale in ((steep, "val/loss", "log"), (flat, "val/loss", "linear"), (steep, "val/acc", "linear"),
                                   (to_zero, "val/loss", "linear")):
        for x in ("epoch", "step"):
            figure = compare.draw_curves([compare.load_run(run_dir)], typed(metric), typed(x))  # as --metric and --x give them
            assert figure.axes[0].get_yscale() == scale, (run_dir, metric)
            assert figure.axes[0].get_xlabel() == x and figure.axes[0].get_ylabel() == metric
            figure.canvas.draw()
            assert all(tick == int(tick) for tick in figure.axes[0].get_xticks()), f"{x}s are whole numbers"
            plt.close(figure)
    with pytest.raises(compare.UserError, match="no run logged 'val/f1'; pick a metric with --metric: train/loss, val/acc, val/loss"):
        compare.draw_curves([compare.load_run(flat)], "val/f1")
