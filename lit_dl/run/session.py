"""`RunSession`: the life of one run in one process, from the `RunPlan` to its last record.

    session = RunSession.open(plan, environment, command="fit")   # reserves and locks the run
    session.begin(seed=42)                  # status running (a new run also: seed, versions, git)
    session.complete(val=..., test=...)     # status completed, with the wall time of all segments
    session.end("interrupted")              # or failed / diverged / pruned; a run that never
                                            # logged or saved anything is removed instead
    session.evaluated("test", ckpt, metrics)  # a later test/validate/predict, beside the fit's values
    session.close()                         # the lock and any empty folder it made go

Only the process that writes the run (rank zero of a `fit` or `lr-find`) locks it and records
its status; every process knows its run directory. No Lightning here: the CLI says what happened.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lit_dl.run import results
from lit_dl.run.environment import Environment, git_commit, package_versions, share_run_dir
from lit_dl.run.layout import Reservation, RunPaths, next_version, reserve_version, version_dir
from lit_dl.run.lock import RunLock
from lit_dl.run.plan import RunPlan

WRITING_COMMANDS = ("fit", "lr_find")  # the commands that train into a run; the others read it


class RunSession:
    def __init__(self, plan: RunPlan, run_dir: Path, *, writer: bool, reservation: Reservation | None = None) -> None:
        self.plan = plan
        self.paths = RunPaths(run_dir)
        self.writer = writer  # holds the lock and records the run's status
        self.reservation = reservation  # set when this process created the run
        self.lock = RunLock(run_dir)
        self.opened = time.monotonic()
        self.earlier_wall_time = 0.0
        self.began = False  # whether this process started training the run (`begin`)

    @classmethod
    def open(cls, plan: RunPlan, environment: Environment, command: str, create: bool = True) -> RunSession:
        """The run `plan` names, reserved (a new run) and locked (by its writer). With `create`
        false (a CLI built without running a command) nothing is written."""
        reservation = None
        if plan.new_run and create:
            reservation = reserve_version(plan.experiment_dir)
            run_dir = reservation.run_dir
        else:
            run_dir = plan.run_dir or version_dir(plan.experiment_dir, next_version(plan.experiment_dir))
        writer = create and environment.rank == 0 and command in WRITING_COMMANDS
        session = cls(plan, run_dir, writer=writer, reservation=reservation)
        try:
            if writer and run_dir.is_dir():
                session.lock.acquire()
            share_run_dir(run_dir, environment)
        except BaseException:
            session.close()
            raise
        return session

    @property
    def run_dir(self) -> Path:
        return self.paths.run_dir

    @property
    def records_status(self) -> bool:
        return self.writer and self.paths.run_dir.is_dir()

    def wall_time(self) -> float:
        return round(self.earlier_wall_time + time.monotonic() - self.opened, 3)

    # -- the fit --------------------------------------------------------------------------------
    def begin(self, seed: int | None, **made: Any) -> None:
        """The fit starts training: status running; a new run records how it was made (`seed`,
        package versions, git commit, and the `made` fields the CLI adds)."""
        self.earlier_wall_time = results.wall_time_so_far(self.run_dir)
        self.began = True
        if not self.records_status:
            return
        self.remove_stale_temporaries()
        # A run trained from its start (new, or stopped before its first save) records how it was made.
        made = {"seed": seed, "versions": package_versions(), "git": git_commit(), **made} if self.plan.checkpoint is None else {}
        results.update_results(self.run_dir, status="running", **made)

    def complete(self, **fields: Any) -> None:
        """The fit finished: its outcome, status completed, and the wall time of every segment."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        results.update_results(self.run_dir, status="completed", wall_time_s=self.wall_time(), **fields)

    def end(self, status: str, error: str | None = None, **fields: Any) -> None:
        """The fit stopped without completing (`status`: interrupted, failed, diverged, pruned).

        A run this process created that never logged or saved anything is removed: there is
        nothing to resume or compare. A command that stops before it began training an existing
        run (a check failed) leaves that run exactly as it was."""
        if self.reservation is not None and not self.has_started():
            self.reservation.discard()
            return
        if not self.began or not self.records_status or not self.paths.results.is_file():
            return
        if error is not None:
            fields["error"] = error
        try:
            results.update_results(self.run_dir, status=status, wall_time_s=self.wall_time(), **fields)
        except OSError:
            pass  # a full or read-only disk: the error that stopped the run is what the user sees

    def recorded(self, field: str) -> Any:
        """A field of the run's results.json when this command continues an existing run."""
        return None if self.plan.new_run else results.read_results(self.run_dir).get(field)

    def remove_stale_temporaries(self) -> None:
        """Half-written files a killed process left: with the lock held, nobody is writing them."""
        for path in self.paths.temporary_files():
            path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove the run this process created (a `fast_dev_run` leaves no run behind)."""
        if self.reservation is not None:
            self.lock.release()
            self.reservation.discard()

    def has_started(self) -> bool:
        """Whether the run logged a metric or saved a checkpoint: then a failure keeps it, marked."""
        return self.paths.metrics.is_file() or any(self.paths.checkpoints.glob("*.ckpt"))

    # -- later commands -------------------------------------------------------------------------
    def evaluated(self, command: str, checkpoint: str | None, metrics: dict[str, float], **extra: Any) -> None:
        """A `test`, `validate` or `predict` of the run, recorded beside the fit's values."""
        results.add_evaluation(self.run_dir, command, checkpoint, metrics, **extra)

    def close(self) -> None:
        """Let go of the run: the lock, and the folders this process made if they stayed empty."""
        self.lock.release()
        if self.reservation is not None:
            self.reservation.release()
