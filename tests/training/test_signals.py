"""StopOnSignal's decision when signals come together: a requeue request wins over a plain stop."""

from __future__ import annotations

import csv
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


STOPS_BEFORE_VALIDATION = {
    # SMALL_QUICKSTART has 8 steps an epoch: step 8 is the last batch, validation follows it.
    "at the epoch's last batch": [
        "--trainer.callbacks+=tests.helpers.callbacks.SignalAt", "--trainer.callbacks.step", "8",
        "--trainer.callbacks.signals", "[SIGTERM]",
    ],
    "inside the epoch's validation": ["--trainer.callbacks+=tests.helpers.callbacks.SignalInValidation"],
}


@pytest.mark.parametrize("where", list(STOPS_BEFORE_VALIDATION))
def test_a_stop_where_validation_follows_waits_for_it_and_the_resume_validates_every_epoch(where, lit_dl, tmp_path):
    """Lightning resumes a checkpoint saved between an epoch's last batch and its validation, or
    inside that validation, as if it had validated: the epoch's validation was never logged.
    The stop now waits for the validation and the epoch's checkpoint (found by the fault matrix)."""
    args = ["fit", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *SMALL_QUICKSTART, "--data.init_args.eval_batch_size", "64"]
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    try:
        code, _, err = lit_dl(*args, *STOPS_BEFORE_VALIDATION[where])
    finally:
        for signum, handler in handlers.items():  # a stopped fit keeps ignoring SIGTERM and SIGUSR1
            signal.signal(signum, handler)
    assert code == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM at step 8" in err
    run_dir = Path(tmp_path) / "quickstart" / "version_0"
    validated = [row["epoch"] for row in csv.DictReader(open(run_dir / "metrics.csv")) if row.get("val/loss")]
    assert validated == ["0"]

    code, _, err = lit_dl(*args, "--ckpt_path", "last")

    assert code == 0, err
    validated = [row["epoch"] for row in csv.DictReader(open(run_dir / "metrics.csv")) if row.get("val/loss")]
    assert validated == ["0", "1"]


def test_a_first_ctrl_c_outside_the_training_loop_is_not_called_a_second_one():
    from lit_dl.training.signals import how_it_stopped

    stop = how_it_stopped(None, KeyboardInterrupt())  # Python's own handler, before StopOnSignal is set up
    assert (stop.status, stop.exit_code, stop.rewind) == ("interrupted", 130, True)
    assert stop.message.startswith("lit-dl: stopped by Ctrl-C outside the training loop at step 0; ")
