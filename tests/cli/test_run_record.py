"""The run's record where it used to be wrong: last.ckpt after an epoch that was not the best,
val at the best checkpoint, a second writer, the seed of a resumed run, Ctrl-C pressed twice."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.helpers.paths import QUICKSTART, REPO, SMALL_QUICKSTART

# The best checkpoint is the epoch with the *highest* validation loss, which falls as the run
# trains: the first epoch is the best, every later one is not.
FIRST_EPOCH_BEST = ["--checkpoint.monitor", "val/loss", "--checkpoint.mode", "max"]
NO_SCHEDULE = ["--model.init_args.scheduler", "null"]  # a run that can be extended


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def test_last_is_the_newest_state_when_the_last_epoch_is_not_the_best(fit_quickstart, lit_dl):
    run_dir = fit_quickstart(*FIRST_EPOCH_BEST, "--trainer.max_epochs", "3")
    best, last = load(run_dir / "checkpoints" / "best.ckpt"), load(run_dir / "checkpoints" / "last.ckpt")
    results = json.loads((run_dir / "results.json").read_text())
    assert best["epoch"] == 0 and last["epoch"] == 2
    assert last["global_step"] == results["steps"] == 3 * 8 and results["epochs"] == 3
    # val is the best checkpoint's validation, val_last the last epoch's.
    assert results["val"]["val/loss"] == results["best_score"] > results["val_last"]["val/loss"]
    # `test --ckpt_path last` evaluates the newest weights, recorded at their step.
    code, _, err = lit_dl("test", "--config", run_dir / "config.yaml", "--ckpt_path", "last")
    assert code == 0, err
    evaluation = json.loads((run_dir / "results.json").read_text())["evaluations"][-1]
    assert evaluation["checkpoint"].endswith("last.ckpt")
    # A finished run cannot be resumed into more training by accident.
    code, _, err = lit_dl("fit", "--config", run_dir / "config.yaml", "--ckpt_path", "last")
    assert code == 2 and "already trained 3 epochs" in err


def test_when_the_newest_state_is_the_best_it_is_written_once(fit_quickstart):
    run_dir = fit_quickstart("--trainer.max_epochs", "1")
    best, last = (os.stat(run_dir / "checkpoints" / name) for name in ("best.ckpt", "last.ckpt"))
    assert best.st_ino == last.st_ino and best.st_nlink == 2  # one file, two names


def test_a_second_writer_is_told_who_holds_the_run_while_readers_read(fit_quickstart, lit_dl):
    from lit_dl.run.lock import RunLock

    run_dir = fit_quickstart(*NO_SCHEDULE, "--trainer.max_epochs", "1")
    before = (run_dir / "metrics.csv").read_bytes()
    lock = RunLock(run_dir)
    lock.acquire()  # as a fit in another process would hold it
    try:
        code, _, err = lit_dl("fit", "--config", run_dir / "config.yaml", "--ckpt_path", "last", "--trainer.max_epochs", "2")
        assert code == 2 and f"is being written by pid {os.getpid()}" in err, err
        assert len(err.strip().splitlines()) == 1
        code, out, err = lit_dl("test", "--config", run_dir / "config.yaml", "--ckpt_path", "best")
        assert code == 0 and out.startswith("test: "), err
        code, out, _ = lit_dl("compare", run_dir)
        assert code == 0
    finally:
        lock.release()
    assert (run_dir / "metrics.csv").read_bytes() == before
    assert not (run_dir / "run.lock").exists()


def test_a_resumed_run_keeps_and_prints_its_own_seed(fit_quickstart, lit_dl, tmp_path):
    run_dir = fit_quickstart(*NO_SCHEDULE, "--seed_everything", "7", "--trainer.callbacks+=tests.helpers.callbacks.StopAfterFirstEpoch")
    code, out, err = lit_dl(
        "fit", "--config", QUICKSTART, *SMALL_QUICKSTART, *NO_SCHEDULE, "--trainer.default_root_dir", tmp_path / "runs",
        "--ckpt_path", "last",
    )
    assert code == 0, err
    assert out.splitlines()[0].startswith("quickstart (seed 7): ")
    assert json.loads((run_dir / "results.json").read_text())["seed"] == 7


def test_ctrl_c_twice_aborts_with_a_message_and_an_interrupted_record(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "lit_dl.cli", "fit", "--config", str(QUICKSTART), *SMALL_QUICKSTART,
         "--trainer.default_root_dir", str(tmp_path / "runs"), "--checkpoint.every_n_epochs", "1",
         "--trainer.callbacks+=tests.helpers.callbacks.SignalAt", "--trainer.callbacks.init_args.step", "12",
         "--trainer.callbacks.init_args.signals", "[SIGINT, SIGINT]"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 130, done.stderr
    assert "aborted by a second Ctrl-C at step 12" in done.stderr and "Traceback" not in done.stderr
    results = json.loads((tmp_path / "runs" / "quickstart" / "version_0" / "results.json").read_text())
    assert results["status"] == "interrupted" and "error" not in results


def test_a_resume_that_only_tests_records_what_the_fit_validated(fit_quickstart, lit_dl, tmp_path):
    """Ctrl-C in the test after fit: the training is complete, the record is not. The resume
    trains nothing and validates nothing; its results.json must still hold the best checkpoint's
    val and the last validation's val_last (found by the fault matrix: val_last was {})."""
    reference = fit_quickstart("--trainer.max_epochs", "3", "--data.init_args.eval_batch_size", "64", root=tmp_path / "reference")
    args = ["fit", "--config", QUICKSTART, *SMALL_QUICKSTART, "--trainer.max_epochs", "3", "--trainer.default_root_dir", tmp_path / "runs",
            "--data.init_args.eval_batch_size", "64"]  # 4 test batches: the stop comes after the first
    code, _, err = lit_dl(*args, "--trainer.callbacks+=tests.helpers.callbacks.SignalInTest")
    assert code == 130, err
    assert "stopped by SIGINT in the test after fit (the training is complete); finish the run's record with: lit-dl fit" in err
    run_dir = tmp_path / "runs" / "quickstart" / "version_0"
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"

    code, _, err = lit_dl(*args, "--ckpt_path", "last")

    assert code == 0, err
    record, expected = (json.loads((run / "results.json").read_text()) for run in (run_dir, reference))
    for field in ("status", "epochs", "steps", "best_score", "val", "val_last", "test"):
        assert record[field] == expected[field], field


def test_a_ctrl_c_while_a_stop_is_recorded_leaves_the_record_whole(fit_quickstart, lit_dl, tmp_path, monkeypatch):
    """A second Ctrl-C that lands while lit-dl writes the record of a stop ended in a
    KeyboardInterrupt traceback and a results.json still saying running (found by the fault
    matrix). The record is written whole, and the Ctrl-C handler is given back afterwards."""
    import signal

    from lit_dl.run import session

    write = session.results.update_results

    def interrupted_write(run_dir, **fields):
        if fields.get("status") == "failed":
            os.kill(os.getpid(), signal.SIGINT)  # while the stop is being recorded
        write(run_dir, **fields)

    monkeypatch.setattr(session.results, "update_results", interrupted_write)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    try:
        code, _, err = lit_dl("fit", "--config", QUICKSTART, *SMALL_QUICKSTART, "--trainer.default_root_dir", tmp_path / "runs",
                              "--trainer.callbacks+=tests.helpers.callbacks.FailAfterFirstEpoch")
        assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # Ctrl-C works again
    finally:
        for signum, handler in handlers.items():  # a failed fit leaves StopOnSignal's handlers
            signal.signal(signum, handler)
    assert code == 2 and "sample 17" in err and "Traceback" not in err
    assert json.loads((tmp_path / "runs" / "quickstart" / "version_0" / "results.json").read_text())["status"] == "failed"


def test_a_ctrl_c_outside_any_stop_handling_is_one_line_and_exit_130(monkeypatch, capsys):
    import lit_dl.cli as cli

    def interrupted(argv=None):
        raise KeyboardInterrupt  # a Ctrl-C while the command line is parsed, before the run begins

    monkeypatch.setattr(cli, "run", interrupted)
    try:
        cli.main(["fit", "--config", str(QUICKSTART)])
    except SystemExit as exit_:
        assert exit_.code == 130
    assert capsys.readouterr().err == "lit-dl: aborted by Ctrl-C\n"


def test_a_resume_after_a_kill_in_the_final_record_logs_the_test_once(fit_quickstart, lit_dl):
    """Killed while writing results.json after the test after fit: metrics.csv already holds the
    test's row. The resume trains nothing and tests again; it must forget the killed attempt's
    test row (found by the fault matrix: the test row was there twice)."""
    run_dir = fit_quickstart("--trainer.max_epochs", "2")
    record = json.loads((run_dir / "results.json").read_text())
    (run_dir / "results.json").write_text(json.dumps({**record, "status": "running"}))  # what the kill left

    code, _, err = lit_dl("fit", "--config", run_dir / "config.yaml", "--ckpt_path", "last")

    assert code == 0, err
    with open(run_dir / "metrics.csv", newline="") as file:
        tested = [row for row in csv.DictReader(file) if row.get("test/acc")]
    assert len(tested) == 1, tested
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
