"""Every run records its status in results.json; `lit-dl compare` shows it and filters on it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.paths import QUICKSTART

TINY = [
    "--data.init_args.n_train", "200", "--data.init_args.n_val", "64", "--data.init_args.n_test", "64",
    "--trainer.limit_val_batches", "1", "--test_after_fit", "false", "--trainer.enable_progress_bar", "false",
]


def test_a_failed_run_records_why_and_compare_filters_on_status(lit_dl, tmp_path):
    root = tmp_path / "runs"
    fit = ["fit", "--config", QUICKSTART, *TINY, "--trainer.default_root_dir", root]
    code, _, err = lit_dl(*fit, "--trainer.max_epochs", "1")
    assert code == 0, err
    code, _, err = lit_dl(*fit, "--trainer.max_epochs", "2", "--trainer.callbacks+=tests.helpers.callbacks.FailAfterFirstEpoch")
    assert code == 2
    assert err.strip().splitlines()[-1] == "lit-dl: error: sample 17 of the training data is broken; fix the data file"

    completed, failed = (json.loads((root / "quickstart" / f"version_{v}" / "results.json").read_text()) for v in (0, 1))
    assert completed["status"] == "completed"
    assert failed["status"] == "failed"
    assert failed["error"] == "sample 17 of the training data is broken; fix the data file"

    code, out, err = lit_dl("compare", root / "quickstart" / "*", "--format", "csv")
    assert code == 0, err
    rows = out.strip().splitlines()
    assert rows[0].split(",")[:2] == ["run", "status"]
    assert [row.split(",")[1] for row in rows[1:]] == ["completed", "failed"]
    code, out, err = lit_dl("compare", root / "quickstart" / "*", "--format", "csv", "--status", "failed")
    assert code == 0, err
    assert [Path(row.split(",")[0]).name for row in out.strip().splitlines()[1:]] == ["version_1"]
