"""A run's session: the wall time its record adds up."""

from __future__ import annotations

import pytest

from lit_dl.run import session as run_session


def test_wall_time_adds_the_earlier_runs_time_in_milliseconds(tmp_path, monkeypatch):
    session = run_session.RunSession(None, tmp_path, writer=False)
    session.opened, session.earlier_wall_time = 100.0, 5.0
    monkeypatch.setattr(run_session.time, "monotonic", lambda: 112.3456789)
    wall_time = session.wall_time()
    monkeypatch.undo()
    assert wall_time == 17.346


def test_a_run_that_fails_to_open_lets_go_of_its_lock_and_the_folders_it_made(tmp_path, monkeypatch):
    """A failure (or Ctrl-C) between reserving the run and sharing it with the other ranks leaves
    neither an empty version folder nor a held lock behind."""
    from lit_dl.run.environment import Environment
    from lit_dl.run.lock import holder
    from lit_dl.run.plan import RunPlan

    def broken_share(run_dir, environment):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_session, "share_run_dir", broken_share)
    experiment = tmp_path / "runs" / "exp"
    plan = RunPlan("exp", experiment, None, new_run=True)
    try:
        run_session.RunSession.open(plan, Environment(), "fit")
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the failure was swallowed")
    assert not (tmp_path / "runs").exists()

    existing = experiment / "version_0"
    existing.mkdir(parents=True)
    try:
        run_session.RunSession.open(RunPlan("exp", experiment, existing), Environment(), "fit")
    except KeyboardInterrupt:
        pass
    assert existing.is_dir() and holder(existing / "run.lock") is None and not (existing / "run.lock").exists()


def test_only_rank_zero_of_a_training_command_writes_the_run(tmp_path):
    from lit_dl.run.environment import Environment
    from lit_dl.run.plan import RunPlan

    run_dir = tmp_path / "exp" / "version_0"
    run_dir.mkdir(parents=True)
    for command, rank, writer in [("fit", 0, True), ("lr_find", 0, True), ("fit", 1, False), ("test", 0, False), ("validate", 0, False)]:
        session = run_session.RunSession.open(RunPlan("exp", run_dir.parent, run_dir), Environment(rank=rank), command)
        try:
            assert session.writer is writer and session.records_status is writer and session.run_dir == run_dir, (command, rank)
        finally:
            session.close()
    built = run_session.RunSession.open(RunPlan("exp", run_dir.parent, None, new_run=True), Environment(), "fit", create=False)
    assert not built.writer and built.run_dir == run_dir.parent / "version_1" and not built.run_dir.exists()


def test_commands_that_read_a_run_open_it_while_a_fit_writes_it_and_take_no_lock(tmp_path):
    """`test`, `validate` and `predict` of a run that a fit is still training, and its other DDP ranks: no second writer."""
    from lit_dl.run.environment import Environment
    from lit_dl.run.lock import holder
    from lit_dl.run.plan import RunPlan

    run_dir = tmp_path / "exp" / "version_0"
    run_dir.mkdir(parents=True)
    plan = RunPlan("exp", run_dir.parent, run_dir)
    fit = run_session.RunSession.open(plan, Environment(), "fit")
    try:
        assert fit.lock.held
        said = holder(run_dir / "run.lock")
        for command, rank in (("test", 0), ("validate", 0), ("predict", 0), ("fit", 1)):
            reader = run_session.RunSession.open(plan, Environment(rank=rank), command)
            assert not reader.lock.held and holder(run_dir / "run.lock") == said, (command, rank)
            reader.close()
    finally:
        fit.close()
    assert not (run_dir / "run.lock").exists()


def test_a_fresh_session_has_spent_no_earlier_time(tmp_path):
    session = run_session.RunSession(None, tmp_path, writer=False)
    assert session.earlier_wall_time == 0.0 and 0.0 <= session.wall_time() < 0.5 and not session.began


@pytest.mark.broken_runs("a hand-made record without a config, not a real run")
def test_ending_a_run_writes_only_into_a_record_this_fit_began(tmp_path):
    from lit_dl.run import results
    from lit_dl.run.plan import RunPlan

    run_dir = tmp_path / "exp" / "version_0"
    run_dir.mkdir(parents=True)
    session = run_session.RunSession(RunPlan("exp", run_dir.parent, run_dir), run_dir, writer=True)
    session.began = True
    session.end("failed", error="boom")  # no results.json (a check failed before the record began): none made
    assert not (run_dir / "results.json").exists()
    results.update_results(run_dir, status="running")
    session.began = False
    session.end("failed", error="boom")
    assert results.read_results(run_dir)["status"] == "running"
    session.began = True
    session.end("diverged", error="nan", epochs=2)
    record = results.read_results(run_dir)
    assert (record["status"], record["error"], record["epochs"]) == ("diverged", "nan", 2) and record["wall_time_s"] >= 0
    reader = run_session.RunSession(RunPlan("exp", run_dir.parent, run_dir), run_dir, writer=False)
    reader.began = True
    reader.end("failed", error="other")
    assert results.read_results(run_dir)["status"] == "diverged"


@pytest.mark.broken_runs("a hand-made record without a config, not a real run")
def test_ending_a_run_on_a_full_disk_leaves_the_error_that_stopped_it_to_be_seen(tmp_path, monkeypatch):
    import errno

    from lit_dl.run import results
    from lit_dl.run.plan import RunPlan

    run_dir = tmp_path / "exp" / "version_0"
    run_dir.mkdir(parents=True)
    results.update_results(run_dir, status="running")
    session = run_session.RunSession(RunPlan("exp", run_dir.parent, run_dir), run_dir, writer=True)
    session.began = True

    def full_disk(*args, **fields):  # faked: tests/run/test_faulty_disks.py fills a real (tmpfs) disk where it may mount one
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_session.results, "update_results", full_disk)
    session.end("failed", error="CUDA out of memory")  # no second error over the first
    monkeypatch.undo()
    assert results.read_results(run_dir)["status"] == "running"  # `lit-dl check` then says it was killed


@pytest.mark.broken_runs("a hand-made record without a config, not a real run")
def test_a_fit_that_begins_cleans_up_a_killed_writers_files_and_records_how_it_was_made(tmp_path, monkeypatch):
    from lit_dl.run import results
    from lit_dl.run.plan import RunPlan

    run_dir = tmp_path / "exp" / "version_0"
    run_dir.mkdir(parents=True)
    left = run_dir / "results.json.tmp-4242"  # a killed process's half-written record
    left.write_text("{")
    monkeypatch.setattr(run_session, "git_commit", lambda: "abc123")
    reader = run_session.RunSession(RunPlan("exp", run_dir.parent, run_dir), run_dir, writer=False)
    reader.begin(seed=7)  # another rank, or a command that only reads: it writes nothing
    assert reader.began and left.exists() and not (run_dir / "results.json").exists()
    writer = run_session.RunSession(RunPlan("exp", run_dir.parent, run_dir), run_dir, writer=True)
    writer.begin(seed=7, net="MLP")
    record = results.read_results(run_dir)
    assert not left.exists() and (record["status"], record["seed"], record["git"], record["net"]) == ("running", 7, "abc123", "MLP")
    assert "torch" in record["versions"]
    resumed = run_session.RunSession(RunPlan("exp", run_dir.parent, run_dir, run_dir / "checkpoints" / "last.ckpt"), run_dir, writer=True)
    monkeypatch.setattr(run_session, "git_commit", lambda: "def456")
    resumed.begin(seed=8)  # a resume keeps how the run was made
    assert {key: results.read_results(run_dir)[key] for key in ("seed", "git")} == {"seed": 7, "git": "abc123"}
