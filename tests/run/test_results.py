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


def test_a_broken_record_is_a_user_error_when_it_must_be_read(tmp_path):
    from lit_dl.errors import UserError

    assert results.read_results(tmp_path, strict=True) == {}  # none yet
    (tmp_path / "results.json").write_text("[1, 2]")
    assert results.read_results(tmp_path) == {}
    with pytest.raises(UserError) as raised:
        results.read_results(tmp_path, strict=True)
    assert str(raised.value) == f"{tmp_path / 'results.json'} does not hold a JSON object; fix or remove the broken file"
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(UserError, match=r"^cannot read .*results.json: Expecting property name .*; fix or remove the broken file$"):
        results.read_results(tmp_path, strict=True)


def test_the_record_is_sorted_indented_and_ends_with_a_newline(tmp_path):
    results.update_results(tmp_path, status="running", b=1)
    results.update_results(tmp_path, a=tmp_path)
    assert (tmp_path / "results.json").read_text() == f'{{\n  "a": "{tmp_path}",\n  "b": 1,\n  "status": "running"\n}}\n'


def test_an_evaluation_says_when_and_keeps_a_classifiers_per_class_record(tmp_path):
    results.add_evaluation(tmp_path, "test", None, {"test/acc": 0.5}, per_class={"labels": ["a", "b"]})
    results.add_evaluation(tmp_path, "predict", "x.ckpt", {}, per_class={})
    first, second = results.read_results(tmp_path)["evaluations"]
    assert first["per_class"] == {"labels": ["a", "b"]} and "per_class" not in second and first["checkpoint"] is None
    assert len(first["time"]) == 19 and first["time"][10] == "T"


def test_the_statuses_and_how_a_run_ended():
    assert results.STATUSES == ("running", "completed", "interrupted", "failed", "diverged", "pruned")
    assert results.ENDED == ("completed", "interrupted", "failed", "diverged", "pruned")


def test_a_record_in_a_folder_that_cannot_be_opened_reports_the_write(tmp_path):
    with pytest.raises(FileNotFoundError):
        results.update_results(tmp_path / "gone", status="running")


def test_a_runs_config_is_read_as_a_mapping_and_flattened_to_its_flags(tmp_path):
    from lit_dl.errors import UserError
    from lit_dl.run.config import flatten, read_config

    assert read_config(tmp_path) == {}
    (tmp_path / "config.yaml").write_text("- a\n")
    assert read_config(tmp_path) == {}
    (tmp_path / "config.yaml").write_text("model: [1\n")
    with pytest.raises(UserError, match=r"(?s)^cannot read .*config.yaml: while parsing .*; fix or remove the broken file$"):
        read_config(tmp_path)
    assert flatten({"model": {"init_args": {"lr": 0.1, "dims": [1, 2], "extra": {}}}, "seed": 3}) == {
        "model.init_args.lr": 0.1, "model.init_args.dims": [1, 2], "model.init_args.extra": {}, "seed": 3}
