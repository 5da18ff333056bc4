"""metrics.csv as RunCSVLogger writes it: appended across resumes, rewritten through a rename when a
column appears, a cut-off last row ignored, and the rows after a resume's checkpoint dropped."""

from __future__ import annotations

import csv
from argparse import Namespace

import torch

from lit_dl.training.csv_logger import MetricsFile, RunCSVLogger


def read(path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def test_rows_are_saved_with_sorted_columns_and_appended(tmp_path):
    metrics = MetricsFile(tmp_path)
    metrics.log_metrics({"train/loss": torch.tensor(0.5), "epoch": 0}, step=4)
    metrics.log_metrics({"train/loss": 0.25, "epoch": 0})  # no step: the row's index
    assert [row["step"] for row in metrics.metrics] == [4, 1] and metrics.metrics[0]["train/loss"] == 0.5
    metrics.save()
    assert metrics.metrics == []
    assert read(tmp_path / "metrics.csv") == (["epoch", "step", "train/loss"], [{"epoch": "0", "step": "4", "train/loss": "0.5"},
                                                                              {"epoch": "0", "step": "1", "train/loss": "0.25"}])
    metrics.save()  # nothing new: nothing written
    metrics.log_metrics({"train/loss": 0.125, "epoch": 1}, step=9)
    metrics.save()
    assert [row["step"] for row in read(tmp_path / "metrics.csv")[1]] == ["4", "1", "9"]


def test_a_new_column_rewrites_the_file_with_every_row_kept(tmp_path):
    metrics = MetricsFile(tmp_path)
    metrics.log_metrics({"train/loss": 0.5}, step=1)
    metrics.save()
    metrics.log_metrics({"val/acc": 0.75, "epoch": 0}, step=1)
    metrics.save()
    header, rows = read(tmp_path / "metrics.csv")
    assert header == ["epoch", "step", "train/loss", "val/acc"]
    assert rows == [{"epoch": "", "step": "1", "train/loss": "0.5", "val/acc": ""}, {"epoch": "0", "step": "1", "train/loss": "", "val/acc": "0.75"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]  # no temporary file left


def test_rows_without_a_column_of_the_header_are_appended_and_only_a_new_column_rewrites(tmp_path):
    """A training row lacks the validation columns: appended to the file as it is (a rewrite on
    each save would cost a copy of the whole file each time); a new column replaces the file."""
    path = tmp_path / "metrics.csv"
    metrics = MetricsFile(tmp_path)
    metrics.log_metrics({"train/loss": 0.5, "val/acc": 0.75, "epoch": 0}, step=1)
    metrics.save()
    before, inode = path.read_bytes(), path.stat().st_ino
    metrics.log_metrics({"train/loss": 0.25, "epoch": 1}, step=2)
    metrics.save()
    assert path.stat().st_ino == inode and path.read_bytes() == before + b"1,2,0.25,\r\n"
    metrics.log_metrics({"test/acc": 0.5}, step=2)
    metrics.save()
    assert path.stat().st_ino != inode  # written beside it and renamed over it
    assert read(path)[0] == ["epoch", "step", "test/acc", "train/loss", "val/acc"]


def test_a_resumed_run_appends_under_the_header_on_disk_and_drops_what_it_will_log_again(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,step,train/loss\n0,4,0.5\n0,9,0.4\n1,14,0.3\n,,0.2\n1,19,0.")
    metrics = MetricsFile(tmp_path)
    assert metrics.metrics_keys == ["epoch", "step", "train/loss"]
    metrics.log_metrics({"train/loss": 0.1, "epoch": 1}, step=9)  # logged after the resume: kept
    metrics.drop_rows_from_step(9)
    header, rows = read(tmp_path / "metrics.csv")
    # step 9 and later go, with the row a kill cut short; a row without a step stays
    assert [(row["step"], row["train/loss"]) for row in rows] == [("4", "0.5"), ("", "0.2")]
    metrics.save()
    assert [row["step"] for row in read(tmp_path / "metrics.csv")[1]] == ["4", "", "9"]
    MetricsFile(tmp_path / "nothing").drop_rows_from_step(3)  # no file: nothing to drop
    assert not (tmp_path / "nothing").exists()


def test_the_run_logger_names_its_run_and_keeps_the_users_hyperparameters(tmp_path):
    run_dir = tmp_path / "quickstart" / "version_3"
    logger = RunCSVLogger(run_dir)
    assert (logger.log_dir, logger.name, logger.version) == (str(run_dir), "quickstart", "version_3")
    logger.finalize("success")  # nothing logged: no file
    assert not run_dir.exists()
    run_dir.mkdir(parents=True)
    logger.log_hyperparams(Namespace(lr=0.1, _instantiator="x"))
    assert (run_dir / "hparams.yaml").read_text() == "lr: 0.1\n"
    logger.log_metrics({"train/loss": 0.5}, step=2)
    logger.finalize("success")
    assert read(run_dir / "metrics.csv")[1] == [{"step": "2", "train/loss": "0.5"}]
    logger.drop_rows_from_step(2)
    assert read(run_dir / "metrics.csv")[1] == []
