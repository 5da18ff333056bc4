"""A run's session: the wall time its record adds up."""

from __future__ import annotations

from lit_dl.run import session as run_session


def test_wall_time_adds_the_earlier_runs_time_in_milliseconds(tmp_path, monkeypatch):
    session = run_session.RunSession(None, tmp_path, writer=False)
    session.opened, session.earlier_wall_time = 100.0, 5.0
    monkeypatch.setattr(run_session.time, "monotonic", lambda: 112.3456789)
    wall_time = session.wall_time()
    monkeypatch.undo()
    assert wall_time == 17.346
