"""The sweep's record without a fit: the study in its journal, the queue, workers' locks, retries
(tests/commands/test_sweep_study.py runs whole sweeps on it)."""

from __future__ import annotations

import fcntl
import io
import os
import sys

import optuna
import pytest

from lit_dl.commands.sweep import study
from lit_dl.errors import UserError
from tests.helpers.typed import typed_tree

# As a sweep's study keeps them (JSON): strings built at run time, not interned literals.
SETTINGS = typed_tree({"name": "lr", "metric": {"name": "val/acc", "goal": "maximize"}})


def new_record(tmp_path, slots=3, settings=None):
    record = tmp_path / "sweep_0"
    record.mkdir()
    created = study.create(record, settings or SETTINGS, [{"x": i} if i % 2 == 0 else {} for i in range(slots)])
    return record, created


def test_a_record_holds_one_study_with_every_trial_queued_in_slot_order(tmp_path):
    record, created = new_record(tmp_path)
    loaded, settings = study.load(record)
    assert settings == SETTINGS and loaded.direction == optuna.study.StudyDirection.MAXIMIZE
    assert [t.user_attrs["slot"] for t in study.latest_attempts(loaded)] == [0, 1, 2]
    assert [study.status(t) for t in study.latest_attempts(loaded)] == ["pending"] * 3
    minimizing = study.create(tmp_path, typed_tree({**SETTINGS, "name": "other", "metric": {"name": "val/loss", "goal": "minimize"}}), [])
    assert minimizing.direction == optuna.study.StudyDirection.MINIMIZE


def test_a_folder_that_is_not_one_sweeps_record_is_one_line(tmp_path):
    with pytest.raises(UserError) as raised:
        study.load(tmp_path)
    assert str(raised.value) == f"{tmp_path} is not a sweep record (it has no study.journal); pass the sweep_<k> folder a sweep printed"
    study.create(tmp_path, SETTINGS, [])
    study.create(tmp_path, {**SETTINGS, "name": "second"}, [])
    with pytest.raises(UserError) as raised:
        study.load(tmp_path)
    assert str(raised.value) == f"{tmp_path / 'study.journal'} holds 2 studies, not one; pass the sweep_<k> folder a sweep printed"


def test_a_worker_whose_lock_another_process_holds_is_alive_and_keeps_its_file(tmp_path, monkeypatch):
    """As the forked check above, in this process (where coverage sees it): lockf refused as another process's lock refuses it."""
    lock = study.WorkerLock(tmp_path)

    def held_elsewhere(handle, operation):  # faked: fcntl locks are per process, this one's own lock never refuses it
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(study.fcntl, "lockf", held_elsewhere)
    assert study.worker_alive(tmp_path, lock.id) and lock.path.exists()
    monkeypatch.undo()
    lock.release()


def test_workers_take_each_queued_trial_once_then_none(tmp_path):
    record, created = new_record(tmp_path, slots=2)
    first, second = study.take(created, record, "w1"), study.take(created, record, "w2")
    assert (first.user_attrs["slot"], first.user_attrs["worker"]) == (0, "w1") and second.user_attrs["slot"] == 1
    assert study.take(created, record, "w1") is None
    assert [study.status(t) for t in study.latest_attempts(created)] == ["running", "running"]


def test_a_worker_is_alive_while_it_holds_its_lock(tmp_path):
    lock = study.WorkerLock(tmp_path)
    assert lock.id.split("-")[-2] == str(os.getpid()) and lock.path == tmp_path / "workers" / f"{lock.id}.lock"
    child = os.fork()  # fcntl locks are per process: another process asks
    if child == 0:
        os._exit(0 if study.worker_alive(tmp_path, lock.id) else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    lock.release()
    assert not lock.path.exists()
    assert not study.worker_alive(tmp_path, lock.id) and not study.worker_alive(tmp_path, None) and not study.worker_alive(tmp_path, "")
    ghost = tmp_path / "workers" / "ghost.lock"
    ghost.write_text("")  # a killed worker's file, its lock gone with it
    assert not study.worker_alive(tmp_path, "ghost") and not ghost.exists()


def test_a_dead_workers_running_trial_fails_and_is_queued_again_to_continue_its_run(tmp_path):
    record, created = new_record(tmp_path, slots=2)
    mine, orphan = study.take(created, record, "me"), study.take(created, record, "dead-worker")
    orphan.set_user_attr("run_dir", "/runs/lr/version_1")
    orphan.report(0.5, 1)
    assert study.requeue_orphans(created, record, me="me") == [1]
    trials = created.get_trials(deepcopy=False)
    failed, retry = trials[orphan.number], trials[-1]
    assert failed.state == optuna.trial.TrialState.FAIL
    assert failed.user_attrs["error"] == "its worker stopped before it ended (killed or requeued)"
    assert retry.state == optuna.trial.TrialState.WAITING and retry.params == orphan.params
    assert {k: retry.user_attrs[k] for k in ("slot", "retry_of", "resume")} == {"slot": 1, "retry_of": orphan.number, "resume": "/runs/lr/version_1"}
    assert "worker" not in retry.user_attrs and "error" not in retry.user_attrs
    assert retry.intermediate_values == {1: 0.5}  # the pruner sees the epochs it already trained
    assert [study.status(t) for t in study.latest_attempts(created)] == ["running", "pending"]
    assert study.requeue_orphans(created, record, me="me") == []  # mine is not an orphan


def test_a_failed_trial_without_a_run_is_queued_again_from_the_start_and_resume_retries_failed_slots(tmp_path):
    record, created = new_record(tmp_path, slots=2)
    first = study.take(created, record, "w")
    first.report(0.3, 1)
    study.fail_and_retry(created, first, "the fit failed", retry=False)
    assert created.get_trials(deepcopy=False)[first.number].user_attrs["error"] == "the fit failed"
    assert len(created.get_trials(deepcopy=False)) == 2  # not queued again
    assert study.retry_failed(created) == [0]
    retry = created.get_trials(deepcopy=False)[-1]
    assert retry.user_attrs == {"slot": 0, "retry_of": first.number} and retry.params == first.params
    second = study.take(created, record, "w")
    study.fail_and_retry(created, second, "killed")
    again = created.get_trials(deepcopy=False)[-1]
    assert again.user_attrs["resume"] is None and again.intermediate_values == {}


def test_a_trial_its_own_worker_finished_meanwhile_is_left_as_it_ended(tmp_path):
    """requeue_orphans races the worker it thinks dead: a trial told complete in between keeps its
    value, gets no error and no second attempt."""
    record, created = new_record(tmp_path, slots=1)
    trial = study.take(created, record, "slow-worker")
    created.tell(trial, 0.75)
    study.fail_and_retry(created, trial, "its worker stopped before it ended (killed or requeued)")
    (only,) = created.get_trials(deepcopy=False)
    assert (only.state, only.value, "error" in only.user_attrs) == (optuna.trial.TrialState.COMPLETE, 0.75, False)


def test_the_latest_attempt_of_each_slot_and_the_statuses_in_run_words(tmp_path):
    record, created = new_record(tmp_path, slots=3)
    trial = study.take(created, record, "w")
    created.tell(trial, 0.9)
    pruned = study.take(created, record, "w")
    created.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    assert [study.status(t) for t in study.latest_attempts(created)] == ["completed", "pruned", "pending"]
    created.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={}))  # no slot: not an attempt
    assert len(study.latest_attempts(created)) == 3


def test_the_json_files_are_written_whole(tmp_path):
    study.write_json(tmp_path / "trials.json", [{"a": 1, "when": tmp_path}])
    assert (tmp_path / "trials.json").read_text() == f'[\n  {{\n    "a": 1,\n    "when": "{tmp_path}"\n  }}\n]\n'


def test_the_queue_lock_is_exclusive_while_held(tmp_path):
    path = tmp_path / "locks" / "queue.lock"
    with study.locked(path):
        assert path.is_file()
        child = os.fork()
        if child == 0:
            with open(path, "a") as handle:
                try:
                    fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os._exit(0)
            os._exit(1)
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0


class FlushedStdout(io.StringIO):
    """A stdout that keeps what had been written at its last flush: what a log file shared with
    the trials' worker processes would hold by then."""

    flushed = ""

    def flush(self) -> None:
        self.flushed = self.getvalue()


def test_a_resume_queues_again_the_dead_workers_trials_and_the_failed_ones_and_says_so_before_they_run(tmp_path, monkeypatch):
    from lit_dl.commands import sweep

    record, created = new_record(tmp_path, slots=4)
    done, orphaned, failed = (study.take(created, record, "ghost") for _ in range(3))  # "ghost" holds no lock: a dead worker
    created.tell(done, 0.9)
    study.fail_and_retry(created, failed, "bad lr", retry=False)
    monkeypatch.setattr(sys, "stdout", FlushedStdout())
    sweep._prepare_resume(record)
    # Flushed before the trials start: their workers write to the same stdout, after this line.
    assert sys.stdout.flushed == f"resuming {record}: 1 interrupted and 1 failed trial(s) queued again; 3 to run\n"
    loaded, _ = study.load(record)
    assert [study.status(t) for t in study.latest_attempts(loaded)] == ["completed", "pending", "pending", "pending"]
    assert orphaned.number != study.latest_attempts(loaded)[1].number


def test_a_resume_waits_for_the_sweeps_slurm_array_to_end(tmp_path, monkeypatch):
    from lit_dl.commands import sweep

    record, _ = new_record(tmp_path, settings=typed_tree({**SETTINGS, "slurm": {}, "job": "4242"}))
    monkeypatch.setattr(sweep.slurm, "running", lambda job: job == "4242")  # faked: squeue (tests/cluster/ has a real SLURM)
    with pytest.raises(UserError, match=r"^the sweep's job array 4242 still runs; wait for it \(squeue -j 4242\) or scancel it, then --resume$"):
        sweep._prepare_resume(record)
