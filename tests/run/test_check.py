"""`lit-dl check`: each promise of a run, broken one at a time in a copy of a real run, is found
and named; a whole run is `ok`."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from lit_dl.run.check import check_record
from lit_dl.run.lock import RunLock
from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART
from tests.helpers.typed import typed_tree


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A real quickstart run of three epochs (a module's worth of copies are broken below)."""
    from lit_dl.cli import main

    root = tmp_path_factory.mktemp("checked")
    try:
        main(["fit", "--config", str(QUICKSTART), "--trainer.default_root_dir", str(root), *SMALL_QUICKSTART, "--trainer.max_epochs", "3"])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    return root / "quickstart" / "version_0"


@pytest.fixture
def run(finished_run, tmp_path) -> Path:
    copy = tmp_path / "runs" / "quickstart" / "version_0"
    shutil.copytree(finished_run, copy)
    return copy


def rows(run: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(run / "metrics.csv", newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def write_rows(run: Path, header: list[str], table: list[dict[str, str]]) -> None:
    with open(run / "metrics.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(table)


def edit_results(run: Path, **fields) -> None:
    record = json.loads((run / "results.json").read_text())
    (run / "results.json").write_text(json.dumps({**record, **fields}))


@pytest.mark.broken_runs("the copies are broken on purpose")
def test_a_whole_run_keeps_every_promise(run):
    assert check_record(run) == []


def stale_last(run: Path) -> None:
    header, table = rows(run)
    last_step = max(int(r["step"]) for r in table if r.get("val/loss"))
    table.append({**{k: "" for k in header}, "epoch": "3", "step": str(last_step + 20), "val/loss": "0.5", "val/acc": "0.5"})
    write_rows(run, header, table)


def repeated_epoch(run: Path) -> None:
    header, table = rows(run)
    table.append(next(r for r in table if r.get("val/loss")))
    write_rows(run, header, table)


def unvalidated_epoch(run: Path) -> None:
    header, table = rows(run)
    first = next(i for i, r in enumerate(table) if r.get("val/loss"))
    write_rows(run, header, table[:first] + table[first + 1:])


def best_keeping_another_validation(run: Path) -> None:
    import torch

    path = run / "checkpoints" / "best.ckpt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    state = next(s for s in checkpoint["callbacks"].values() if "best_metrics" in s)
    state["best_metrics"] = {**state["best_metrics"], "val/loss": 9.0}
    torch.save(checkpoint, path)


def cut_off(checkpoint: Path) -> None:
    """The first half of the file left, as a write killed part way would leave it (a new file: last.ckpt may be a link to best.ckpt)."""
    half = checkpoint.read_bytes()[:checkpoint.stat().st_size // 2]
    checkpoint.unlink()
    checkpoint.write_bytes(half)


BROKEN = {
    "stale last.ckpt": (stale_last, "last.ckpt is stale"),
    "an epoch validated twice": (repeated_epoch, "twice at step"),
    "an epoch never validated": (unvalidated_epoch, "never validated"),
    "steps that last.ckpt does not hold": (lambda run: edit_results(run, steps=3), "results.json says 3 steps"),
    "a best score metrics.csv never reached": (lambda run: edit_results(run, best_score=0.123), "is not metrics.csv's best"),
    "val that is not the best checkpoint's": (lambda run: edit_results(run, val={"val/loss": 9.0}), "is not the best checkpoint's"),
    "a best checkpoint that keeps another validation's metrics": (best_keeping_another_validation, "a resume would record the wrong val"),
    "a best checkpoint that is gone": (lambda run: (run / "checkpoints" / "best.ckpt").unlink(), "does not exist"),
    "an unknown status": (lambda run: edit_results(run, status="done"), "status 'done'"),
    "running, but nobody holds it": (lambda run: edit_results(run, status="running"), "it was killed"),
    "failed without a reason": (lambda run: edit_results(run, status="failed"), "without the error"),
    "a temporary file left behind": (lambda run: (run / "results.json.tmp-4242").write_text("{"), "temporary file left behind"),
    "a cut-off row": (lambda run: open(run / "metrics.csv", "a").write("1,0.5,0.001,99"), "cut-off row"),
    "no config.yaml": (lambda run: (run / "config.yaml").unlink(), "config.yaml is missing"),
    "unreadable results.json": (lambda run: (run / "results.json").write_text("{broken"), "cannot read"),
    "last.ckpt missing": (lambda run: (run / "checkpoints" / "last.ckpt").unlink(), "last.ckpt is missing"),
    "last.ckpt cut off": (lambda run: cut_off(run / "checkpoints" / "last.ckpt"), "last.ckpt cannot be read"),
}


@pytest.mark.broken_runs("the copies are broken on purpose")
@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_each_broken_promise_is_found_and_named(run, case):
    breaks, said = BROKEN[case]
    breaks(run)
    problems = check_record(run)
    assert any(said in problem for problem in problems), problems


@pytest.mark.broken_runs("the copies are broken on purpose")
def test_validation_every_second_epoch_expects_only_those_epochs_validated(run):
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["trainer"]["check_val_every_n_epoch"] = 2
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    unvalidated_epoch(run)  # epoch 0's validation: one that check_val_every_n_epoch 2 never asked for
    assert not any("never validated" in problem for problem in check_record(run))


@pytest.mark.broken_runs("the copies are broken on purpose")
def test_a_stopped_run_must_have_validated_every_epoch_up_to_its_last_validation(run):
    header, table = rows(run)
    second = [i for i, r in enumerate(table) if r.get("val/loss")][1]
    write_rows(run, header, table[:second] + table[second + 1:])  # epochs 0 and 2 validated, not 1
    edit_results(run, status="interrupted", epochs=None)
    assert any("epoch 1 trained but never validated" in problem for problem in check_record(run))


@pytest.mark.broken_runs("the copies are broken on purpose")
def test_a_completed_run_must_have_validated_every_epoch_it_says_it_trained(run):
    header, table = rows(run)
    last = [i for i, r in enumerate(table) if r.get("val/loss")][-1]
    write_rows(run, header, table[:last] + table[last + 1:])  # results.json says 3 epochs; epoch 2 never validated
    assert any("epoch 2 trained but never validated" in problem for problem in check_record(run))


@pytest.mark.broken_runs("the copies are broken on purpose")
def test_a_killed_runs_half_written_files_are_not_counted_twice(run):
    """A run killed while running (results.json still says running) leaves temporary files: the
    one problem is the kill, and its resume cleans them up."""
    edit_results(run, status="running")
    (run / "results.json.tmp-4242").write_text("{")
    problems = check_record(run)
    assert any("it was killed" in problem for problem in problems)
    assert not any("temporary file left behind" in problem for problem in problems)


@pytest.mark.broken_runs("the copies are broken on purpose")
def test_a_locked_run_is_left_unchecked_only_while_it_is_running(run):
    """A held lock means a process is writing the run: its record is final only once its status
    is no longer running."""
    (run / "config.yaml").unlink()
    lock = RunLock(run)
    lock.acquire()
    try:
        assert any("config.yaml is missing" in problem for problem in check_record(run))
        edit_results(run, status="running")
        assert check_record(run) == []
    finally:
        lock.release()


@pytest.mark.broken_runs("the copies are broken on purpose")
def test_the_command_says_ok_or_each_problem_and_exits_1(run, lit_dl, tmp_path):
    code, out, err = lit_dl("check", run)
    assert (code, out.strip(), err) == (0, f"ok {run}", "")
    edit_results(run, steps=3)
    (run / "results.json.tmp-7").write_text("")
    code, out, _ = lit_dl("check", tmp_path / "runs")
    assert code == 1
    assert [line.split(": ", 1)[0] for line in out.splitlines()] == [str(run)] * 2, out
    code, _, err = lit_dl("check", tmp_path / "nothing-here")
    assert code == 2 and "no run directory" in err


@pytest.mark.broken_runs("the copy's config is broken on purpose")
def test_a_config_that_does_not_rerun_is_found(run):
    from lit_dl.cli.run_check import check_runs

    text = (run / "config.yaml").read_text().replace("max_epochs: 3", "max_epocs: 3")
    (run / "config.yaml").write_text(text)
    (problems,) = check_runs([run]).values()
    assert any(p.startswith("config.yaml does not rerun") and "max_epocs" in p for p in problems), problems


@pytest.mark.broken_runs("the copy is broken on purpose")
def test_compare_marks_a_run_that_is_not_whole(run, lit_dl):
    code, out, err = lit_dl("compare", run, "--columns", "status")
    assert code == 0 and "completed!" not in out and err == ""
    edit_results(run, best_score=0.123)
    code, out, err = lit_dl("compare", run, "--columns", "status")
    assert code == 0 and "completed!" in out
    assert err.startswith(f"! {run} is not whole: ") and f"lit-dl check {run}" in err


def test_a_last_checkpoint_that_holds_no_step_is_stale_behind_any_logged_step(tmp_path):
    """A last.ckpt without `global_step` (written by something else than a fit) holds no step:
    a run that logged even step 0 has newer state than it, and results.json's steps disagree."""
    from lit_dl.run import check
    from lit_dl.run.layout import RunPaths

    def _last_is_newest(*args):  # the record and rows as read from results.json and metrics.csv
        return check._last_is_newest(*typed_tree(args))


    paths, rows = RunPaths(tmp_path / "exp" / "version_0"), [{"epoch": 0.0, "step": 0.0, "train/loss": 0.5}]
    assert _last_is_newest(paths, {"status": "completed", "steps": 0}, rows, {}) == [
        "last.ckpt holds step -1 but metrics.csv logged step 0: last.ckpt is stale",
        "results.json says 0 steps but last.ckpt holds step -1"]
    assert _last_is_newest(paths, {"status": "completed", "steps": 1}, rows, {"global_step": 1}) == []
    assert _last_is_newest(paths, {"status": "completed"}, [*rows, {"step": 1.0, "test/acc": 0.9}], {"global_step": 1}) == []  # a test's row
    assert _last_is_newest(paths, {"status": "failed", "steps": 3}, rows, {}) == []  # the steps since the last save died with it


def test_the_best_score_is_checked_against_metrics_csv_in_the_monitors_direction(tmp_path):
    from lit_dl.run import check
    from lit_dl.run.layout import RunPaths

    def _best(*args):  # the record, rows and config as read from their files
        return check._best(*typed_tree(args))


    paths = RunPaths(tmp_path / "exp" / "version_0")
    rows = [{"val/acc": 0.5}, {"val/acc": float("nan")}, {"val/acc": 0.75}, {"val/loss": 0.2}]
    maximizing = {"checkpoint": {"monitor": "val/acc", "mode": "max"}}
    assert _best(paths, {"status": "completed", "best_score": 0.75}, rows, maximizing, False) == []
    assert _best(paths, {"status": "completed", "best_score": 0.75 * (1 + 1e-7)}, rows, maximizing, False) == []  # printed otherwise
    assert _best(paths, {"status": "completed", "best_score": 0.5}, rows, maximizing, False) == [
        "results.json's best val/acc 0.5 is not metrics.csv's best 0.75"]
    assert _best(paths, {"status": "completed", "best_score": 0.5, "monitor": "val/acc"}, rows, {"checkpoint": {"mode": "min"}}, False) == []
    assert _best(paths, {"status": "completed", "best_score": 0.3}, rows, {}, False) == ["results.json's best val/loss 0.3 is not metrics.csv's best 0.2"]
    for status in ("failed", "diverged", "running"):
        assert _best(paths, {"status": status, "best_score": 0.3}, rows, {}, False) == []
    assert _best(paths, {"status": "completed", "best_score": None}, rows, {}, False) == []
    assert _best(paths, {"status": "pruned", "best_score": 0.2, "val": {"val/loss": 0.25}}, rows, {}, False) == [
        "results.json's val val/loss 0.25 is not the best checkpoint's 0.2"]


def test_the_best_checkpoint_must_be_a_file_of_the_runs_checkpoints_folder(tmp_path):
    from lit_dl.run.check import _best
    from lit_dl.run.layout import RunPaths

    paths = RunPaths(tmp_path / "exp" / "version_0")
    (paths.checkpoints).mkdir(parents=True)
    (paths.checkpoints / "best.ckpt").write_bytes(b"x")
    moved = {"status": "completed", "best_score": 0.2, "best_checkpoint": "/elsewhere/old/checkpoints/best.ckpt"}
    assert _best(paths, moved, [], {}, False) == []  # a run moved with its files: found by its place in the run
    assert _best(paths, {**moved, "best_checkpoint": "/elsewhere/best.ckpt"}, [], {}, False) == [
        "the best checkpoint /elsewhere/best.ckpt is not in the run's checkpoints/ folder"]
    assert _best(paths, {**moved, "best_checkpoint": "/x/checkpoints/epoch=3.ckpt"}, [], {}, False) == [
        "results.json names the best checkpoint /x/checkpoints/epoch=3.ckpt, which does not exist"]


@pytest.mark.parametrize(("trainer", "record", "epochs", "problem"), [
    ({}, {"status": "completed", "epochs": 3}, [0, 1, 2], None),
    ({}, {"status": "completed", "epochs": 3}, [0, 2], "epoch 1 trained but never validated in metrics.csv"),
    ({}, {"status": "completed", "epochs": 4}, [0], "epochs 1, 2, 3 trained but never validated in metrics.csv"),
    ({"check_val_every_n_epoch": 2}, {"status": "completed", "epochs": 4}, [1, 3], None),
    ({"check_val_every_n_epoch": 2}, {"status": "completed", "epochs": 4}, [1], "epoch 3 trained but never validated in metrics.csv"),
    ({}, {"status": "interrupted", "epochs": 9}, [0, 1], None),  # a stopped run: up to its last validation
    ({}, {"status": "interrupted"}, [0, 2], "epoch 1 trained but never validated in metrics.csv"),
    ({"limit_val_batches": 0}, {"status": "completed", "epochs": 3}, [0], None),
    ({}, {"status": "completed", "epochs": 3}, [], None),
    ({}, {"status": "completed", "epochs": 8}, [0], "epochs 1, 2, 3, 4, 5 trained but never validated in metrics.csv"),
])
def test_every_epoch_that_trained_was_validated(trainer, record, epochs, problem):
    from lit_dl.run.check import _every_epoch_validated

    rows = [{"epoch": float(e), "step": float(e), "val/loss": 0.5} for e in epochs] + [{"epoch": 7.0, "step": 70.0, "train/loss": 1.0}]
    assert _every_epoch_validated(rows, record, {"trainer": trainer}) == ([problem] if problem else [])


def test_a_metric_logged_twice_at_a_step_is_named_and_test_metrics_may_repeat():
    from lit_dl.run.check import _logged_once

    rows = [{"step": 9.0, "val/loss": 0.5}, {"step": 9.0, "val/loss": 0.5, "test/acc": 0.9}, {"step": 9.0, "test/acc": 0.8},
            {"step": 19.0, "train/loss": 0.1, "epoch": 1.0}, {"step": 19.0, "train/loss": 0.2, "epoch": 1.0}, {"val/loss": 0.5}, {"val/loss": 0.5}]
    assert _logged_once(rows) == ["metrics.csv logs train/loss twice at step 19 (an epoch trained or validated twice)",
                                  "metrics.csv logs val/loss twice at step 9 (an epoch trained or validated twice)"]
    many = [{"step": 1.0, f"val/m{i}": 0.0} for i in range(5)] * 2
    assert len(_logged_once(many)) == 3  # the first three


def test_a_metrics_csv_without_results_json_is_a_broken_record(tmp_path):
    from lit_dl.run.check import _status
    from lit_dl.run.layout import RunPaths

    paths = RunPaths(tmp_path)
    assert _status(paths, {}) == []  # nothing recorded at all
    (tmp_path / "metrics.csv").write_text("step,train/loss\n1,0.5\n")
    assert _status(paths, {}) == ["results.json is missing beside metrics.csv"]
    assert _status(paths, {"status": "completed"}) == []


@pytest.mark.parametrize(("record", "problems"), [
    (None, ["results.json is missing beside metrics.csv"]),
    ({"status": "aborted", "epochs": 5}, ["results.json has status 'aborted'; expected one of "
                                          "running, completed, interrupted, failed, diverged, pruned"]),
])
def test_a_run_without_a_known_status_is_checked_up_to_its_last_validation(tmp_path, record, problems):
    # Hand-built: no results.json, or one with a status lit-dl never writes ("aborted" sorts before
    # "completed"): either is named in one line, and the epochs are checked as a run that stopped
    # (up to its last validation, epoch 1), not as one that completed its 5 epochs.
    (tmp_path / "metrics.csv").write_text("epoch,step,val/loss\n0,9,0.5\n1,19,0.4\n")
    if record is not None:
        (tmp_path / "results.json").write_text(json.dumps(record))
        (tmp_path / "config.yaml").write_text("trainer:\n  max_epochs: 5\n")
    assert check_record(tmp_path) == problems
