"""StopOnSignal's decision when signals come together: a requeue request wins over a plain stop."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART


def test_sigterm_then_sigusr1_stops_once_and_asks_for_a_requeue(lit_dl, tmp_path, monkeypatch):
    """SLURM is faked here: no cluster runs in the default suite, and what is tested is the
    callback's decision, so `requeue_slurm_job` (which would call `scontrol requeue`) is replaced
    by a recorder. The real requeue runs in tests/cluster (pytest -m slurm)."""
    import lit_dl.training.signals as signals

    requeues = []
    monkeypatch.setattr(signals, "requeue_slurm_job", lambda: requeues.append(os.getpid()))
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    try:
        code, out, err = lit_dl(
            "fit", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *SMALL_QUICKSTART,
            "--test_after_fit", "false", "--trainer.callbacks+=tests.helpers.callbacks.TermThenUsr1",
        )
    finally:
        for signum, handler in handlers.items():  # a stopped fit keeps ignoring SIGTERM and SIGUSR1
            signal.signal(signum, handler)
    assert code == 128 + signal.SIGUSR1, err
    assert requeues == [os.getpid()]
    assert "stopped by SIGUSR1 at step 2" in err
    last = Path(tmp_path) / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file()


def test_a_stop_after_the_last_epochs_new_best_resumes_to_that_best(lit_dl, tmp_path):
    """The stop comes after the final epoch's validation found a new best: last.ckpt is that best
    (one file, two names), and the resume, with nothing left to train, records its metrics."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    base = ["fit", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *SMALL_QUICKSTART, "--test_after_fit", "false"]
    try:
        code, _, err = lit_dl(*base, "--trainer.callbacks+=tests.helpers.callbacks.SignalAt",
                              "--trainer.callbacks.step", "16", "--trainer.callbacks.signals", '["SIGTERM"]')
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert code == 128 + signal.SIGTERM, err
    checkpoints = Path(tmp_path) / "quickstart" / "version_0" / "checkpoints"
    assert os.path.samefile(checkpoints / "last.ckpt", checkpoints / "best.ckpt")  # the last epoch was the best

    code, _, err = lit_dl(*base, "--ckpt_path", "last")

    assert code == 0, err
    results = json.loads((checkpoints.parent / "results.json").read_text())
    assert results["status"] == "completed" and results["steps"] == 16
    assert results["val"]["val/loss"] == pytest.approx(results["best_score"])
