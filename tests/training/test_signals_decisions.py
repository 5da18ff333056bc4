"""StopOnSignal's decisions that need no fit, on stand-in trainers: when the ranks agree on a
stop (the DDP fits that use it are slow tests), how a fit that raised ended, and what a SLURM
requeue reports."""

from __future__ import annotations

import signal
import subprocess
from types import SimpleNamespace

import pytest
import torch

from lit_dl.training import signals
from lit_dl.training.signals import Agreement, StopOnSignal, how_it_stopped


def trainer(step: int = 0, log_every: int = 4, last_batch: bool = False, world_size: int = 1, callbacks=()) -> SimpleNamespace:
    progress = SimpleNamespace(is_last_batch=last_batch)
    return SimpleNamespace(global_step=step, log_every_n_steps=log_every, world_size=world_size, callbacks=list(callbacks),
                           fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))


def test_agreement_is_due_at_steps_that_log_and_at_an_epochs_last_batch():
    agreement = Agreement(trainer(0))
    due = [agreement.due_in_training(trainer(step)) for step in (1, 2, 3, 4, 4, 5, 8)]
    # Step 4 logs; its second batch (gradient accumulation: no new step) does not agree again.
    assert due == [False, False, False, True, False, False, True]
    assert agreement.due_in_training(trainer(9, last_batch=True))
    late = Agreement(trainer(int("1000")))
    # Step numbers as a long fit counts them: past CPython's cached small ints, each a new object.
    assert [late.due_in_training(trainer(int(step))) for step in ("1001", "1002", "1003", "1004", "1004")] == [False, False, False, True, False]


@pytest.mark.parametrize(("slowest_fits", "every"), [(10, 8), (4, 4), (3, 3), (0, 1)])
def test_the_ranks_agree_every_so_many_logging_steps_as_the_slowest_fits_in_the_interval(slowest_fits, every):
    """Each rank sends minus the steps it fits in AGREE_EVERY_S; the max is the slowest rank's.
    The next agreements come at that many steps, rounded down to a multiple of the logging
    interval (4) when at least one interval fits, at least one step."""
    stand_in = trainer(0, log_every=4)
    stand_in.strategy = SimpleNamespace(root_device=torch.device("cpu"), reduce=lambda flags, reduce_op: torch.tensor([2, -slowest_fits]))
    agreement = Agreement(stand_in)
    assert agreement.agree(stand_in, urgency=0) == 2
    assert agreement.every_steps == every


@pytest.mark.parametrize(("received", "world_size", "status"), [(signal.SIGINT, 1, "failed"), (signal.SIGINT, 2, "interrupted"),
                                                                (signal.SIGTERM, 2, "failed")])
def test_an_error_after_one_ctrl_c_is_a_peers_abort_only_under_ddp(received, world_size, status):
    """Under DDP a rank's collective breaks when another rank aborted at a second Ctrl-C; in a
    single process, or after another signal, a RuntimeError is a failure of its own."""
    callback = StopOnSignal()
    callback.received = received
    stop = how_it_stopped(trainer(step=3, world_size=world_size, callbacks=[callback]), RuntimeError("NCCL communicator was aborted"))
    assert stop.status == status


@pytest.mark.parametrize(("stopped_by", "status", "code"), [(signal.SIGINT, "interrupted", 130), (signal.SIGTERM, "failed", None),
                                                           (None, "failed", None)])
def test_a_system_exit_is_an_interruption_when_ctrl_c_stopped_the_fit(stopped_by, status, code):
    callback = StopOnSignal()
    callback.stopped_by = stopped_by
    stop = how_it_stopped(trainer(step=3, callbacks=[callback]), SystemExit(1))
    assert (stop.status, stop.exit_code) == (status, code)


@pytest.mark.parametrize(("returncode", "stderr", "said"), [(0, "", "lit-dl: requeued SLURM job 123"),
                                                           (1, "Access denied\n", "lit-dl: could not requeue (Access denied) SLURM job 123")])
def test_requeue_says_whether_scontrol_requeued_the_job(returncode, stderr, said, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    def scontrol(command, text=False, **_):
        return subprocess.CompletedProcess(command, returncode, "" if text else b"", stderr if text else stderr.encode())

    monkeypatch.setattr(signals.subprocess, "run", scontrol)
    signals.requeue_slurm_job()
    assert capsys.readouterr().err.strip() == said


@pytest.mark.parametrize(("error", "said"), [
    (FileNotFoundError(2, "No such file or directory", "scontrol"), "[Errno 2] No such file or directory: 'scontrol'"),
    (subprocess.TimeoutExpired(["scontrol", "requeue", "123"], 60), "Command '['scontrol', 'requeue', '123']' timed out after 60 seconds"),
])
def test_a_requeue_that_cannot_run_scontrol_says_why_and_the_stop_goes_on(error, said, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)

    def scontrol(command, **_):  # faked: no SLURM here (tests/cluster/ requeues on a real one)
        raise error

    monkeypatch.setattr(signals.subprocess, "run", scontrol)
    signals.requeue_slurm_job()
    assert capsys.readouterr().err.strip() == f"lit-dl: could not requeue SLURM job 123: {said}"


def test_a_ctrl_c_before_any_fit_is_a_first_one_and_setup_forgets_the_last_fits_stop(monkeypatch):
    """A new StopOnSignal has seen no Ctrl-C; the setup of a fit (or test) forgets what stopped the
    one before it, so an interrupt outside the next fit's loop is not called a second Ctrl-C."""
    monkeypatch.setattr(StopOnSignal, "_install", lambda self: None)
    callback = StopOnSignal()
    stop = how_it_stopped(trainer(step=2, callbacks=[callback]), KeyboardInterrupt())
    assert stop.message.startswith("lit-dl: stopped by Ctrl-C outside the training loop at step 2; ")

    callback.received, callback.stopped_by, callback._stopping, callback.aborted = signal.SIGINT, signal.SIGINT, True, True
    callback.setup(trainer(), None, "validate")  # not a fit nor a test: nothing forgotten
    assert callback.aborted and callback._stopping
    callback.setup(trainer(), None, "fit")
    assert (callback.received, callback.stopped_by, callback._stopping, callback.aborted, callback._stage) == (None, None, False, False, "fit")
    stop = how_it_stopped(trainer(step=5, callbacks=[callback]), KeyboardInterrupt())
    assert "stopped by Ctrl-C outside the training loop at step 5" in stop.message
    callback.aborted = True
    assert "aborted by a second Ctrl-C at step 5" in how_it_stopped(trainer(step=5, callbacks=[callback]), KeyboardInterrupt()).message


@pytest.mark.parametrize(("stage", "said"), [("fit", "stopping after this batch to save a checkpoint (Ctrl-C again to abort)"),
                                             ("test", "stopping after this batch (Ctrl-C again to abort)")])
def test_the_first_ctrl_c_is_recorded_and_the_second_aborts(stage, said, capsys, monkeypatch):
    previous = []
    monkeypatch.setattr(signals.signal, "signal", lambda signum, handler: previous.append((signum, handler)))
    callback = StopOnSignal()
    from lightning.pytorch.trainer.states import TrainerFn

    callback._stage, callback._previous = TrainerFn(stage), {signal.SIGINT: "python's"}  # the stage as Lightning's setup gives it
    callback._record(signal.SIGINT, None)
    assert capsys.readouterr().err == f"\n{said}\n"
    assert (callback.received, callback.aborted) == (signal.SIGINT, False)
    with pytest.raises(KeyboardInterrupt):
        callback._record(signal.SIGINT, None)
    assert callback.aborted and previous == [(signal.SIGINT, "python's")]  # the third goes to Python's handler


def test_a_ctrl_c_while_the_stop_is_under_way_aborts(monkeypatch):
    monkeypatch.setattr(signals.signal, "signal", lambda signum, handler: None)
    callback = StopOnSignal()
    callback._record(signal.SIGTERM, None)
    callback._stopping = True
    with pytest.raises(KeyboardInterrupt):
        callback._record(signal.SIGINT, None)
    assert callback.aborted and callback.received == signal.SIGTERM


@pytest.mark.parametrize(("signals_in_order", "kept"), [((signal.SIGTERM, signal.SIGUSR1), signal.SIGUSR1),
                                                        ((signal.SIGUSR1, signal.SIGTERM), signal.SIGUSR1),
                                                        ((signal.SIGTERM, signal.SIGINT), signal.SIGTERM),
                                                        ((signal.SIGINT, signal.SIGTERM), signal.SIGINT)])
def test_the_first_signal_is_kept_unless_a_requeue_is_asked_for_later(signals_in_order, kept, capsys):
    callback = StopOnSignal()
    callback._stage = "fit"
    for signum in signals_in_order:
        callback._record(signum, None)
    assert callback.received == kept and not callback.aborted


def test_a_single_process_stops_at_the_batch_after_a_signal_and_once():
    callback = StopOnSignal()
    stand_in = trainer()
    stand_in._signal_connector = SimpleNamespace(received_sigterm=False)
    callback._stop_if_signalled(stand_in)
    assert not stand_in._signal_connector.received_sigterm and not callback._stopping  # nothing received
    callback.received = signal.SIGUSR1
    callback._stop_if_signalled(stand_in)
    assert stand_in._signal_connector.received_sigterm and callback._stopping
    stand_in._signal_connector.received_sigterm = False
    callback._stop_if_signalled(stand_in)  # already stopping: not again
    assert not stand_in._signal_connector.received_sigterm
    without_flag = StopOnSignal()
    without_flag.received = signal.SIGTERM
    with pytest.raises(signals.SIGTERMException):  # Lightning's flag is gone: the callback raises it itself
        without_flag._stop_if_signalled(trainer())


@pytest.mark.parametrize(("urgencies", "received"), [(0, 0), (1, signal.SIGTERM), (2, signal.SIGUSR1)])
def test_under_ddp_the_most_urgent_ranks_signal_stops_every_rank(urgencies, received):
    """The ranks all-reduce 0 (nothing), 1 (a stop) or 2 (a requeue): a rank that got nothing
    stops as SIGTERM for a plain stop elsewhere, and asks for the requeue when any rank got SIGUSR1."""
    callback = StopOnSignal()
    sent = []
    stand_in = trainer(world_size=2)
    stand_in._signal_connector = SimpleNamespace(received_sigterm=False)
    callback._agreement = SimpleNamespace(agree=lambda _, urgency: sent.append(urgency) or urgencies)
    callback._stop_if_signalled(stand_in)
    assert sent == [0] and callback.received == (received or None) and stand_in._signal_connector.received_sigterm is bool(received)
    callback = StopOnSignal()
    callback.received, callback._agreement = signal.SIGUSR1, SimpleNamespace(agree=lambda _, urgency: sent.append(urgency) or 2)
    callback._stop_if_signalled(stand_in)
    assert sent[-1] == 2


@pytest.mark.parametrize(("stopped_by", "code"), [(signal.SIGTERM, 143), (signal.SIGUSR1, 138), (signal.SIGINT, 130), (None, 143)])
def test_a_signal_stop_exits_with_128_plus_the_signal(stopped_by, code):
    callback = StopOnSignal()
    callback.stopped_by = stopped_by
    stop = how_it_stopped(trainer(callbacks=[callback]), signals.SIGTERMException())
    assert (stop.status, stop.exit_code, stop.rewind, stop.message) == ("interrupted", code, False, None)


def test_an_exception_names_its_own_status_or_the_fit_failed_with_its_first_line():
    class Diverged(RuntimeError):
        status, exit_code = "diverged", 3

    assert how_it_stopped(None, Diverged("loss is nan\nat step 4")) == signals.Stop("diverged", 3, error="loss is nan")
    assert how_it_stopped(None, ValueError("bad value\nmore")) == signals.Stop("failed", error="bad value")
    assert how_it_stopped(None, ValueError()) == signals.Stop("failed", error="ValueError")


def test_an_ended_fit_records_the_trainers_progress_unless_it_rewinds(monkeypatch):
    monkeypatch.setattr(signals, "rewind_to_last_checkpoint", lambda trainer: {"epochs": 1, "steps": 8})
    stand_in = trainer(step=11)
    stand_in.current_epoch, stand_in.is_global_zero = 2, True
    assert signals.ended_fit(stand_in, ValueError("x"), began=True)[1] == {"epochs": 2, "steps": 11}
    assert signals.ended_fit(stand_in, KeyboardInterrupt(), began=True)[1] == {"epochs": 1, "steps": 8}
    assert signals.ended_fit(stand_in, KeyboardInterrupt(), began=False)[1] == {"epochs": 2, "steps": 11}  # nothing logged yet
    stand_in.is_global_zero = False
    assert signals.ended_fit(stand_in, KeyboardInterrupt(), began=True)[1] == {"epochs": 2, "steps": 11}
    assert signals.ended_fit(None, KeyboardInterrupt(), began=True)[1] == {}


def test_the_resume_command_names_the_runs_config_and_the_checkpoint(tmp_path):
    checkpoint = tmp_path / "my runs" / "version_0" / "checkpoints" / "last.ckpt"
    assert signals.resume_command(checkpoint) == (f"lit-dl fit --config '{tmp_path}/my runs/version_0/config.yaml' "
                                                  f"--ckpt_path '{checkpoint}'")


@pytest.mark.parametrize(("env", "job"), [({"SLURM_JOB_ID": "77"}, "77"), ({"SLURM_JOB_ID": "77", "SLURM_ARRAY_JOB_ID": "70",
                                                                            "SLURM_ARRAY_TASK_ID": "3"}, "70_3"),
                                          ({}, None), ({"SLURM_JOB_ID": "77; rm -rf /"}, None)])
def test_the_requeue_names_the_array_task_and_nothing_outside_slurm(env, job, monkeypatch):
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ran = []
    monkeypatch.setattr(signals.subprocess, "run", lambda command, **_: ran.append(command) or subprocess.CompletedProcess(command, 0, "", ""))
    signals.requeue_slurm_job()
    assert ran == ([["scontrol", "requeue", job]] if job else [])


def test_teardown_keeps_a_stopping_process_deaf_to_sigterm_but_gives_ctrl_c_back(monkeypatch):
    restored = {}
    monkeypatch.setattr(signals.signal, "signal", lambda signum, handler: restored.__setitem__(signum, handler))
    callback = StopOnSignal()
    callback._previous = {signal.SIGTERM: "term", signal.SIGUSR1: "usr1", signal.SIGINT: "int"}
    callback._stopping = True
    callback.teardown(trainer(), None, "fit")
    assert restored == {signal.SIGINT: "int"} and callback._previous == {}
    callback._previous, callback._stopping = {signal.SIGTERM: "term", signal.SIGUSR1: "usr1", signal.SIGINT: "int"}, False
    callback.teardown(trainer(), None, "validate")  # not its stage: kept
    assert restored == {signal.SIGINT: "int"}
    callback.teardown(trainer(), None, "test")
    assert restored == {signal.SIGTERM: "term", signal.SIGUSR1: "usr1", signal.SIGINT: "int"}


@pytest.mark.parametrize(("other_fits", "every"), [(30, 30), (80, 50)])
def test_the_slowest_ranks_pace_sets_the_next_agreement(other_fits, every, monkeypatch):
    """This rank ran 20 batches in 2 s: 50 fit in AGREE_EVERY_S (5 s). The all-reduce takes the
    maximum of minus the steps each rank fits, so the slowest rank's count wins."""
    stand_in = trainer(0, log_every=1)
    sent = []

    def reduce(flags, reduce_op):
        sent.append(flags.tolist())
        return torch.maximum(flags, torch.tensor([0, -other_fits]))

    stand_in.strategy = SimpleNamespace(root_device=torch.device("cpu"), reduce=reduce)
    monkeypatch.setattr(signals.time, "perf_counter", lambda: 100.0)
    agreement = Agreement(stand_in)
    agreement._batches, agreement._since = 20, 98.0
    assert agreement.agree(stand_in, urgency=1) == 1
    assert sent == [[1, -50]] and agreement.every_steps == every
    assert (agreement._batches, agreement._since) == (0, 100.0)  # the next pace is measured from here


def test_a_pace_too_fast_to_measure_spaces_the_agreements_a_billion_steps_apart(monkeypatch):
    """No time measured since the last agreement (a clock that did not move): the steps that fit
    in AGREE_EVERY_S are capped at 10**9, a number int64 all-reduces carry, and the next agreement
    comes that many steps on (the epoch's last batch still agrees)."""
    stand_in = trainer(0, log_every=1)
    sent = []
    stand_in.strategy = SimpleNamespace(root_device=torch.device("cpu"), reduce=lambda flags, reduce_op: sent.append(flags.tolist()) or flags)
    monkeypatch.setattr(signals.time, "perf_counter", lambda: 100.0)
    agreement = Agreement(stand_in)
    agreement._batches, agreement._since = 1000, 100.0  # 1000 batches in no time at all
    agreement.agree(stand_in, urgency=0)
    assert sent == [[0, -10**9]] and agreement.every_steps == 10**9


def stopping_trainer(fn, tmp_path, sanity=False, zero=True):
    from lightning.pytorch.trainer.states import TrainerFn

    return SimpleNamespace(state=SimpleNamespace(fn=getattr(TrainerFn, fn)), sanity_checking=sanity, is_global_zero=zero, global_step=12,
                           checkpoint_callbacks=[])


@pytest.mark.parametrize(("received", "requeued"), [(signal.SIGTERM, False), (signal.SIGUSR1, True), (None, False)])
def test_a_stop_in_fit_saves_last_ckpt_says_how_to_resume_and_requeues_on_sigusr1(received, requeued, tmp_path, monkeypatch, capsys):
    last = tmp_path / "exp" / "version_0" / "checkpoints" / "last.ckpt"
    saved, asked = [], []
    monkeypatch.setattr(signals, "save_last", lambda trainer: saved.append(trainer) or str(last))
    monkeypatch.setattr(signals, "requeue_slurm_job", lambda: asked.append(True))
    callback = StopOnSignal()
    callback.received = received
    stand_in = stopping_trainer("FITTING", tmp_path)
    callback.on_exception(stand_in, None, signals.SIGTERMException())
    name = signal.Signals(received or signal.SIGTERM).name
    assert callback.stopped_by == (received or signal.SIGTERM) and saved == [stand_in] and asked == ([True] if requeued else [])
    assert capsys.readouterr().err == f"lit-dl: stopped by {name} at step 12; saved {last}; resume with: {signals.resume_command(last)}\n"


def test_only_rank_zero_speaks_and_requeues_and_a_sanity_check_saves_nothing(tmp_path, monkeypatch, capsys):
    saved, asked = [], []
    monkeypatch.setattr(signals, "save_last", lambda trainer: saved.append(trainer) or "last.ckpt")
    monkeypatch.setattr(signals, "requeue_slurm_job", lambda: asked.append(True))
    callback = StopOnSignal()
    callback.received = signal.SIGUSR1
    callback.on_exception(stopping_trainer("FITTING", tmp_path, zero=False), None, signals.SIGTERMException())
    assert len(saved) == 1 and asked == [] and capsys.readouterr().err == ""  # every rank saves (a collective); one speaks
    callback.on_exception(stopping_trainer("FITTING", tmp_path, sanity=True), None, signals.SIGTERMException())
    assert len(saved) == 1 and asked == [True]
    monkeypatch.setattr(signals, "save_last", lambda trainer: None)  # no checkpoint folder
    callback.on_exception(stopping_trainer("FITTING", tmp_path), None, signals.SIGTERMException())
    assert capsys.readouterr().err == ""


def test_a_stop_in_a_test_says_whether_the_run_can_be_finished(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(signals, "last_checkpoint_path", lambda trainer: str(tmp_path / "r" / "checkpoints" / "last.ckpt"))
    callback = StopOnSignal()
    callback.received = signal.SIGTERM
    callback.on_exception(stopping_trainer("TESTING", tmp_path), None, signals.SIGTERMException())
    assert capsys.readouterr().err == "lit-dl: stopped by SIGTERM in the test; nothing was recorded\n"
    callback.on_fit_end(None, None)
    callback.on_exception(stopping_trainer("TESTING", tmp_path), None, signals.SIGTERMException())
    said = capsys.readouterr().err
    assert said.startswith("lit-dl: stopped by SIGTERM in the test after fit (the training is complete); finish the run's record with: lit-dl fit ")
    callback.on_exception(stopping_trainer("TESTING", tmp_path, zero=False), None, signals.SIGTERMException())
    assert capsys.readouterr().err == ""


def test_a_second_ctrl_c_and_other_exceptions_are_not_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(signals, "save_last", lambda trainer: pytest.fail("no save"))
    callback = StopOnSignal()
    callback.on_exception(stopping_trainer("FITTING", tmp_path), None, KeyboardInterrupt())
    assert callback.stopped_by == signal.SIGINT
    other = StopOnSignal()
    other.on_exception(stopping_trainer("FITTING", tmp_path), None, ValueError("x"))
    assert other.stopped_by is None


def test_the_stop_waits_for_a_validation_that_follows_and_test_batches_stop_at_once(monkeypatch):
    checked = []
    monkeypatch.setattr(StopOnSignal, "_stop_if_signalled", lambda self, trainer: checked.append(trainer.global_step))
    callback = StopOnSignal()
    monkeypatch.setattr(signals, "validation_follows", lambda trainer, batch_idx: batch_idx == 3)
    stand_in = trainer(step=5)
    stand_in.check_val_every_n_epoch, stand_in.enable_validation, stand_in.current_epoch = 1, True, 0
    callback.on_train_batch_end(stand_in, None, None, None, 2)
    callback.on_train_batch_end(stand_in, None, None, None, 3)  # validation follows: after it
    assert checked == [5]
    stand_in.check_val_every_n_epoch = 2  # this epoch validates no more
    callback.on_train_batch_end(stand_in, None, None, None, 3)
    assert checked == [5, 5]
    callback.on_test_batch_end(stand_in, None, None, None, 0)
    assert checked == [5, 5, 5]


@pytest.mark.parametrize(("every", "validated_epochs"), [(None, [0, 1, 2, 3, 4, 5]), (1, [0, 1, 2, 3, 4, 5]), (2, [1, 3, 5]), (3, [2, 5])])
def test_an_epochs_last_batch_is_followed_by_validation_only_in_the_epochs_that_validate(every, validated_epochs):
    """check_val_every_n_epoch=N validates after epochs N-1, 2N-1, ...: only there must a stop wait for the validation."""
    stand_in = trainer(last_batch=True)
    stand_in.enable_validation, stand_in.check_val_every_n_epoch = True, every
    followed = []
    for epoch in range(6):
        stand_in.current_epoch = epoch
        if signals._validation_follows(stand_in, batch_idx=9):
            followed.append(epoch)
    assert followed == validated_epochs
    stand_in.enable_validation = False  # no validation loader, or limit_val_batches=0
    assert not signals._validation_follows(stand_in, batch_idx=9)


def test_an_agreement_made_before_training_starts_as_one_at_step_zero_that_logs_every_step():
    """StopOnSignal holds one before its fit starts (a test alone under DDP agrees with it)."""
    made_early, at_step_zero = Agreement(), Agreement(trainer(0, log_every=1))
    assert (made_early.unit, made_early.every_steps) == (1, 1)
    steps = (0, 1, 1, 2)  # step 0's batch makes no step; the second batch of step 1 (accumulation) does not agree again
    due = [made_early.due_in_training(trainer(step)) for step in steps]
    assert due == [at_step_zero.due_in_training(trainer(step)) for step in steps] == [False, True, False, True]


def test_under_ddp_the_fits_start_turns_off_lightnings_per_step_stop_broadcast(monkeypatch):
    """The ranks agree on a stop at StopOnSignal's own points; Lightning's broadcast at every step would only cost."""
    monkeypatch.setattr(StopOnSignal, "_install", lambda self: None)
    skipped = []
    monkeypatch.setattr(signals, "skip_per_step_stop_broadcast", skipped.append)
    for world_size in (1, 2):
        stand_in = trainer(step=3, world_size=world_size)
        callback = StopOnSignal()
        callback.on_train_start(stand_in, None)
        assert callback._agreement._step_seen == 3
    assert skipped == [stand_in]


def test_a_fit_outside_the_main_thread_installs_no_handlers():
    """Python lets only the main thread set signal handlers (a notebook's or a service's worker thread may fit)."""
    import threading

    callback, failed = StopOnSignal(), []

    def install():
        try:
            callback._install()
        except ValueError as error:
            failed.append(error)

    before = {signum: signal.getsignal(signum) for signum in signals.STOP_SIGNALS}
    thread = threading.Thread(target=install)
    thread.start()
    thread.join()
    assert failed == [] and callback._previous == {} and {signum: signal.getsignal(signum) for signum in signals.STOP_SIGNALS} == before
