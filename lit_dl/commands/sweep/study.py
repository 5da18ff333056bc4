"""The sweep's record, `<root>/<name>/sweep_<k>/`: an Optuna study in a journal file, shared by
every worker (local processes or SLURM array tasks) through the file system, no database server.

    study.journal      Optuna's JournalStorage (JournalFileBackend): trials, values, parameters
    queue.lock         held while a worker takes the next trial, so no two take the same one
    workers/<id>.lock  held by each live worker (fcntl): a running trial whose worker's lock is free
                       lost its worker (killed, requeued) and is retried
    trial_<n>.log      the output of trial n's fits
    sweep.json         the sweep's settings, best trials, parameter importances (written at the end
                       and by --collect); trials.json: each trial's outcome; wandb_sweep.yaml

Every trial is queued when the sweep starts: a grid's points with their values, a random or bayes
search's `count` empty slots that the sampler fills when a worker takes them. A worker takes only
queued trials, so a sweep runs exactly its trials, however many workers share it. A trial whose
worker died is marked failed and queued again (continuing its run from last.ckpt when it has
one), so it is neither lost nor counted twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lit_dl.errors import UserError

JOURNAL = "study.journal"
SETTINGS = "sweep"  # the study's user attribute holding what a worker needs
UNFINISHED = ("running", "pending")


def storage(record: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str((record / JOURNAL).resolve())))


def create(record: Path, settings: dict[str, Any], slots: list[dict[str, Any]]) -> Any:
    """A new study in `record` with every trial queued: `slots` holds each one's fixed values."""
    import optuna

    from lit_dl.commands.sweep.methods import quiet

    quiet()
    study = optuna.create_study(
        storage=storage(record), study_name=settings["name"],
        direction="maximize" if settings["metric"]["goal"] == "maximize" else "minimize",
    )
    study.set_user_attr(SETTINGS, settings)
    for index, params in enumerate(slots):
        study.enqueue_trial(params, user_attrs={"slot": index})
    return study


def load(record: Path, sampler: Any = None, pruner: Any = None) -> tuple[Any, dict[str, Any]]:
    """The study of a sweep record and its settings."""
    import optuna

    from lit_dl.commands.sweep.methods import quiet

    quiet()
    if not (record / JOURNAL).is_file():
        raise UserError(f"{record} is not a sweep record (it has no {JOURNAL}); pass the sweep_<k> folder a sweep printed")
    names = optuna.get_all_study_names(storage(record))
    if len(names) != 1:
        raise UserError(f"{record / JOURNAL} holds {len(names)} studies, not one; pass the sweep_<k> folder a sweep printed")
    study = optuna.load_study(study_name=names[0], storage=storage(record), sampler=sampler, pruner=pruner)
    return study, study.user_attrs[SETTINGS]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive fcntl lock on `path` while the block runs (released by the kernel if we die)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


class WorkerLock:
    """A live worker holds `workers/<id>.lock` for as long as it runs."""

    def __init__(self, record: Path) -> None:
        self.id = f"{socket.gethostname().split('.')[0]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.path = record / "workers" / f"{self.id}.lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")
        fcntl.lockf(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
        self.handle.close()


def worker_alive(record: Path, worker: str | None) -> bool:
    """Whether the worker holding `workers/<worker>.lock` still runs (its lock is held)."""
    if not worker:
        return False  # taken under the queue lock and never named: the taker died in between
    path = record / "workers" / f"{worker}.lock"
    if not path.is_file():
        return False
    with open(path, "a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(handle, fcntl.LOCK_UN)
    path.unlink(missing_ok=True)
    return False


def take(study: Any, record: Path, worker: str) -> Any:
    """The next queued trial, now this worker's; None when the queue is empty."""
    import optuna

    with locked(record / "queue.lock"):
        if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
            return None
        trial = study.ask()  # pops a queued trial: the queue is not empty and no one else pops now
        trial.set_user_attr("worker", worker)
        return trial


def requeue_orphans(study: Any, record: Path, me: str | None = None) -> list[int]:
    """Fail and queue again each running trial whose worker is gone; their slots."""
    import optuna

    requeued = []
    with locked(record / "queue.lock"):
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            worker = trial.user_attrs.get("worker")
            if worker == me or worker_alive(record, worker):
                continue
            fail_and_retry(study, trial, "its worker stopped before it ended (killed or requeued)")
            requeued.append(trial.user_attrs.get("slot"))
    return requeued


def fail_and_retry(study: Any, trial: Any, error: str, retry: bool = True) -> None:
    """Mark `trial` failed with `error` and, with `retry`, queue it again with the same values: it
    continues the run it was training (its `run_dir`) and keeps the seeds it finished."""
    import optuna

    try:
        _set_attr(study, trial.number, "error", error)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    except (ValueError, RuntimeError):  # Optuna's UpdateFinishedTrialError is a RuntimeError
        return  # finished meanwhile by its own worker: nothing is lost
    if not retry:
        return
    frozen = study.get_trials(deepcopy=False)[trial.number]
    attrs = {key: value for key, value in frozen.user_attrs.items() if key not in ("worker", "error")}
    attrs["retry_of"] = frozen.number
    attrs["resume"] = frozen.user_attrs.get("run_dir")
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.WAITING, params=frozen.params, distributions=frozen.distributions,
        user_attrs=attrs, intermediate_values=frozen.intermediate_values if attrs["resume"] else None,
    ))


def _set_attr(study: Any, number: int, key: str, value: Any) -> None:
    """A user attribute on any unfinished trial of the study (Optuna's Trial, rebuilt from its number)."""
    import optuna

    optuna.trial.Trial(study, number).set_user_attr(key, value)


def retry_failed(study: Any) -> list[int]:
    """Queue again each slot whose last attempt failed (for --resume); their slots."""
    import optuna

    retried = []
    for attempt in latest_attempts(study):
        if attempt.state == optuna.trial.TrialState.FAIL:
            queue_again(study, attempt)
            retried.append(attempt.user_attrs["slot"])
    return retried


def queue_again(study: Any, attempt: Any) -> None:
    import optuna

    attrs = {key: value for key, value in attempt.user_attrs.items() if key not in ("worker", "error", "fit_pid", "run_dir", "resume")}
    attrs["retry_of"] = attempt.number
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.WAITING, params=attempt.params, distributions=attempt.distributions, user_attrs=attrs,
    ))


def latest_attempts(study: Any) -> list[Any]:
    """The newest attempt at each slot, in slot order (a retry supersedes the attempt it retries)."""
    latest: dict[int, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        slot = trial.user_attrs.get("slot")
        if slot is not None and (slot not in latest or trial.number > latest[slot].number):
            latest[slot] = trial
    return [latest[slot] for slot in sorted(latest)]


def status(trial: Any) -> str:
    """completed | pruned | failed | running | pending: a trial's state in the run statuses' words."""
    return {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "pending"}[trial.state.name]


def write_json(path: Path, data: Any) -> None:
    from lit_dl.run.files import write_atomically

    write_atomically(path, json.dumps(data, indent=2, default=str) + "\n")
