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
