"""Reading a run's files back: metrics.csv as the rows it has."""

from __future__ import annotations

from lit_dl.run.reader import read_metrics


def test_a_metrics_row_cut_by_a_kill_is_left_out_and_only_that_row(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/loss\n0,4,0.9\n0,9,0.8\n1,14,0.")  # killed while writing the third row
    assert read_metrics(path) == [{"epoch": 0.0, "step": 4.0, "train/loss": 0.9}, {"epoch": 0.0, "step": 9.0, "train/loss": 0.8}]
    path.write_text("epoch,step,train/loss\n0,4,0.9\n0,9,0.8\n")
    assert len(read_metrics(path)) == 2
