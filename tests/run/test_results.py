"""results.json: one writer, atomic, later commands append beside the fit's values."""

from __future__ import annotations

import json

import pytest

from lit_dl.run import results
from lit_dl.run.config import save_config


def test_evaluations_never_overwrite_the_fits_values(tmp_path):
    results.update_results(tmp_path, status="completed", seed=42, test={"test/acc": 0.9})
    results.add_evaluation(tmp_path, "test", "best.ckpt", {"test/acc": 0.8})
    results.add_evaluation(tmp_path, "validate", "last.ckpt", {"val/acc": 0.7})
    record = results.read_results(tmp_path)
    assert (record["seed"], record["test"], record["status"]) == (42, {"test/acc": 0.9}, "completed")
    assert [(e["command"], e["metrics"]) for e in record["evaluations"]] == [("test", {"test/acc": 0.8}), ("validate", {"val/acc": 0.7})]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    results.update_results(tmp_path, status="running")
    before = (tmp_path / "results.json").read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results.json, "dumps", lambda *a, **k: "x" * 10)
    monkeypatch.setattr("lit_dl.run.files.os.fsync", full_disk)
    with pytest.raises(OSError):
        results.update_results(tmp_path, status="completed")
    assert (tmp_path / "results.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_unreadable_results_read_as_empty(tmp_path):
    (tmp_path / "results.json").write_text("{not json")
    assert results.read_results(tmp_path) == {}
    assert json.loads("[]") == [] and results.wall_time_so_far(tmp_path) == 0.0


@pytest.mark.parametrize(("value", "seconds"), [(12.5, 12.5), ("12.5", 12.5), (None, 0.0), ("soon", 0.0), ([1, 2], 0.0)])
def test_an_earlier_wall_time_that_is_not_a_number_counts_as_none(value, seconds, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"status": "interrupted", "wall_time_s": value}))
    assert results.wall_time_so_far(tmp_path) == seconds


def test_config_is_written_once(tmp_path):
    assert save_config(tmp_path, "a: 1\n")
    assert not save_config(tmp_path, "a: 2\n")
    assert (tmp_path / "config.yaml").read_text() == "a: 1\n"
