"""Reading a run's files back: metrics.csv as the rows it has."""

from __future__ import annotations

import pytest

from lit_dl.run.reader import read_metrics
from tests.helpers.typed import typed, typed_tree

pytestmark = pytest.mark.broken_runs("hand-written run files, a few each")


def test_a_metrics_row_cut_by_a_kill_is_left_out_and_only_that_row(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/loss\n0,4,0.9\n0,9,0.8\n1,14,0.")  # killed while writing the third row
    assert read_metrics(path) == [{"epoch": 0.0, "step": 4.0, "train/loss": 0.9}, {"epoch": 0.0, "step": 9.0, "train/loss": 0.8}]
    path.write_text("epoch,step,train/loss\n0,4,0.9\n0,9,0.8\n")
    assert len(read_metrics(path)) == 2
    assert read_metrics(tmp_path / "absent.csv") == []  # a run killed before it logged a row


def run(metrics, results=None, config=None):
    from pathlib import Path

    from lit_dl.run.reader import Run

    # Its config, results and rows as read from the run's files: strings built at run time.
    return Run(Path("runs/x/version_0"), typed_tree(config or {}), typed_tree(results or {}), typed_tree(metrics))


def test_a_series_by_step_or_by_epoch_means():
    rows = [{"epoch": 0.0, "step": 4.0, "train/loss": 1.0}, {"epoch": 0.0, "step": 9.0, "train/loss": 0.5}, {"epoch": 0.0, "step": 9.0, "val/loss": 0.8},
            {"epoch": 1.0, "step": 14.0, "train/loss": 0.25}, {"step": 15.0, "train/loss": 9.0}]
    assert run(rows).series("train/loss") == ([4.0, 9.0, 14.0, 15.0], [1.0, 0.5, 0.25, 9.0])
    assert run(rows).series("train/loss", typed("epoch")) == ([0.0, 1.0], [0.75, 0.25])  # the row without an epoch is left out
    assert run(rows).series("val/acc") == ([], [])


def test_the_best_value_from_metrics_csv_else_from_results_json():
    nan = float("nan")
    rows = [{"val/loss": 0.5}, {"val/loss": nan}, {"val/loss": 0.25}, {"val/acc": 0.5}, {"val/acc": 0.75}]
    assert run(rows).best("val/loss", False) == 0.25 and run(rows).best("val/acc", True) == 0.75 and run(rows).best("val/loss", True) == 0.5
    recorded = run([{"val/loss": nan}], {"val": {"val/loss": 0.125}, "test": {"test/acc": 0.5}})
    assert recorded.best("val/loss", False) == 0.125 and recorded.best("test/acc", True) == 0.5 and recorded.best("val/f1", True) is None


def test_epochs_are_recorded_or_counted_from_the_logged_epochs_and_the_monitor_from_the_config():
    assert run([], {"epochs": 4}).epochs == 4
    assert run([{"epoch": 0.0}, {"epoch": 2.0}, {"step": 3.0}], {"epochs": "4"}).epochs == 3
    assert run([]).epochs is None
    assert run([]).monitor == ("val/loss", False)
    assert run([], config={"checkpoint.monitor": "val/acc", "checkpoint.mode": "max"}).monitor == ("val/acc", True)
    assert run([], config={"checkpoint.mode": "min"}).monitor == ("val/loss", False)


def test_runs_are_found_by_directory_parent_glob_or_file_in_natural_order(tmp_path):
    from lit_dl.errors import UserError
    from lit_dl.run.reader import find_runs

    for version in (10, 9, 2):
        folder = tmp_path / "exp" / f"version_{version}"
        folder.mkdir(parents=True)
        (folder / ("results.json" if version != 2 else "metrics.csv")).write_text("{}")
    (tmp_path / "exp" / "notes").mkdir()
    expected = [tmp_path / "exp" / f"version_{v}" for v in (2, 9, 10)]
    assert find_runs([str(tmp_path / "exp")]) == expected
    assert find_runs([str(tmp_path / "exp" / "version_*")]) == expected
    assert find_runs([str(tmp_path / "exp" / "version_9"), str(tmp_path / "exp" / "version_9" / "results.json")]) == expected[1:2]
    assert find_runs([str(tmp_path / "exp" / "version_2" / "metrics.csv")]) == expected[:1]
    with pytest.raises(UserError) as raised:
        find_runs([str(tmp_path / "exp" / "notes"), "nowhere/*"])
    assert str(raised.value).startswith(f"no run directory found in {tmp_path / 'exp' / 'notes'} nowhere/*; pass run directories ")


def test_a_run_is_read_whole(tmp_path):
    from lit_dl.run.reader import load_run

    (tmp_path / "config.yaml").write_text("model:\n  init_args: {lr: 0.1}\ncheckpoint: {monitor: val/acc}\n")
    (tmp_path / "results.json").write_text('{"status": "completed"}')
    (tmp_path / "metrics.csv").write_text("epoch,step,val/acc,name\n0,9,0.5,\n")
    loaded = load_run(tmp_path)
    assert loaded.config == {"model.init_args.lr": 0.1, "checkpoint.monitor": "val/acc"} and loaded.results == {"status": "completed"}
    assert loaded.metrics == [{"epoch": 0.0, "step": 9.0, "val/acc": 0.5}] and loaded.monitor == ("val/acc", False)
