"""Stopping on a signal: every rank at the same batch, one last.ckpt, and a requeue under SLURM.

SIGTERM (scancel, `scontrol requeue`, a preemption), SIGUSR1 (SLURM's warning before the time
limit, or `scancel --signal=USR1 JOBID`) and the first Ctrl-C are only recorded by the signal
handler. One process reads that record after every batch. Several ranks must agree: they
all-reduce it at agreed batches (all ranks run the same batches, so all of them join that
collective, and no other collective is running), which on GPUs is a host synchronisation, so
not after every batch: at the steps Lightning logs anyway (every `log_every_n_steps`), spaced so
that the ranks agree at least every `AGREE_EVERY_S` seconds of training, and at every epoch's end.
Never between a batch and the validation that follows it, nor inside that validation: a
checkpoint saved there resumes as if it had validated, so the stop waits for the validation's end.
SLURM warns 90 s before the time limit (`--signal=USR1@90`), so a stop a few seconds later is
soon enough. When any rank got a signal, every rank sets Lightning's stop flag at the same moment
and Lightning stops all of them at its next check, at this same batch. Then `last.ckpt` is saved
once through the normal save path, and on SIGUSR1 inside a SLURM job rank zero requeues the job
(`scontrol requeue`): the requeued job continues the run from that `last.ckpt`. Lightning's own
broadcast of rank zero's SIGTERM flag before every batch (a collective per step) is turned off
while this callback runs. In a test, the ranks agree after every test batch.

Why not Lightning's own handlers: Lightning 2.6 broadcasts inside its SIGTERM handler
(`_SignalConnector._sigterm_notifier_fn`) and, with SLURM auto-requeue, saves a checkpoint
(a collective, `hpc_ckpt_<n>.ckpt`) inside its SIGUSR1 handler. A collective inside a signal
handler deadlocks whenever the signal interrupts another collective on one rank (a checkpoint
save's barrier, a metric's gather); SLURM then kills the job after KillWait, losing the work since
the last checkpoint. So this callback installs its own handlers before the trainer registers
Lightning's (Lightning then leaves SIGUSR1 alone) and puts them back over Lightning's SIGTERM
composition as soon as the trainer runs.

Lightning's stop flag is the private `trainer._signal_connector.received_sigterm` (the public
`trainer.received_sigterm` is read-only): setting it on every rank at once makes Lightning's own
batch-boundary checks raise on all ranks at the same point, which leaves the loops in the state
Lightning's restart logic expects. Where it is missing, the callback raises the same exception
itself.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from lit_dl.errors import one_line
from lit_dl.internals import is_last_batch, request_stop, skip_per_step_stop_broadcast
from lit_dl.run.layout import RunPaths
from lit_dl.training.checkpoints import last_checkpoint_path, rewind_to_last_checkpoint, save_last
from lit_dl.training.periodic import validation_follows

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
REQUEUE_SIGNAL = signal.SIGUSR1
AGREE_EVERY_S = 5.0  # the most seconds of work between two agreements of the ranks on a stop (about)


class StopOnSignal(Callback):
    """SIGTERM, SIGUSR1 or Ctrl-C: all ranks finish the current batch, save `last.ckpt`, say how
    to resume and exit with 128 + the signal number; SIGUSR1 in a SLURM job also requeues it.
    A second Ctrl-C aborts at once. In a test (the one after fit included) they stop it at a
    batch boundary too (Lightning's own handler would broadcast inside the handler): a run
    stopped in its test after fit is resumed to finish its record."""

    def __init__(self) -> None:
        self.received: int | None = None  # recorded by the handler
        self.stopped_by: int | None = None  # the signal that stopped the fit, for the exit code
        self._previous: dict[int, Any] = {}
        self._stopping = False
        self._agreement = Agreement()
        self._stage: str | None = None
        self._fitted = False  # a test that follows a completed fit: its resume finishes the record
        self.aborted = False  # a second Ctrl-C raised KeyboardInterrupt (a first one outside the fit's loop raises it too)

    # -- the handler: records, nothing else ----------------------------------------------------
    def _record(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT:
            if self.received == signal.SIGINT or self._stopping:
                signal.signal(signal.SIGINT, self._previous.get(signal.SIGINT, signal.default_int_handler))
                self.aborted = True
                raise KeyboardInterrupt
            then = " to save a checkpoint" if self._stage == "fit" else ""
            rank_zero_only(print)(f"\nstopping after this batch{then} (Ctrl-C again to abort)", file=sys.stderr, flush=True)
        if self.received is None or signum == REQUEUE_SIGNAL:
            self.received = signum  # a requeue request wins over a plain stop

    def _install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            current = signal.getsignal(signum)
            if current != self._record:
                self._previous.setdefault(signum, current)
                signal.signal(signum, self._record)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage in ("fit", "test"):
            self.received, self.stopped_by, self._stopping, self.aborted, self._stage = None, None, False, False, stage
            self._install()  # before Lightning registers its handlers: it then adds no SIGUSR1 one

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fitted = True

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install()

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._stop_if_signalled(trainer)  # Lightning stops at the next batch, unless this was the last

    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install()  # over Lightning's SIGTERM handler, which broadcasts inside the handler

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install()
        self._agreement = Agreement(trainer)
        if trainer.world_size > 1:
            skip_per_step_stop_broadcast(trainer)  # the ranks agree here instead

    # -- every rank learns of it at the same batch -----------------------------------------------
    # Never between a batch and the validation that follows it, nor inside that validation: a
    # checkpoint saved there resumes as if it had validated (see `validation_follows`), so the
    # stop waits for the validation's end (and, at an epoch's end, for its checkpoint). Not in
    # `on_train_epoch_end`: rank zero's progress line computes (gathers) the epoch's metrics
    # there alone, and a collective of ours beside it would pair with the wrong one.
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        due = trainer.world_size == 1 or self._agreement.due_in_training(trainer)  # counts every batch
        if due and not _validation_follows(trainer, batch_idx):
            self._stop_if_signalled(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if _fitting(trainer):
            self._stop_if_signalled(trainer)

    def _stop_if_signalled(self, trainer: pl.Trainer) -> None:
        if self._stopping:
            return
        received = self.received or 0
        if trainer.world_size > 1:
            # 2: a requeue was asked for, 1: a plain stop; the maximum over ranks decides for all.
            urgency = self._agreement.agree(trainer, 2 if received == REQUEUE_SIGNAL else int(bool(received)))
            received = REQUEUE_SIGNAL if urgency == 2 else (received or signal.SIGTERM) if urgency else 0
        if not received:
            return
        self.received, self._stopping = received, True
        if not request_stop(trainer):  # Lightning's own checks stop every rank at this batch
            raise SIGTERMException

    # -- the stop ------------------------------------------------------------------------------
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):  # a second Ctrl-C: no save, Lightning exits
            self.stopped_by = signal.SIGINT
            return
        if not isinstance(exception, SIGTERMException):
            return
        signum = self.stopped_by = self.received or signal.SIGTERM
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            path = save_last(trainer)  # every rank: it ends with a barrier, so the file is complete
            if trainer.is_global_zero and path:
                print(
                    f"lit-dl: stopped by {signal.Signals(signum).name} at step {trainer.global_step}; "
                    f"saved {path}; resume with: {resume_command(path)}",
                    file=sys.stderr, flush=True,
                )
        elif trainer.state.fn == TrainerFn.TESTING and trainer.is_global_zero:
            name = signal.Signals(signum).name
            last = last_checkpoint_path(trainer) if self._fitted else None
            said = (f"in the test after fit (the training is complete); finish the run's record with: {resume_command(last)}"
                    if last else "in the test; nothing was recorded")
            print(f"lit-dl: stopped by {name} {said}", file=sys.stderr, flush=True)
        if signum == REQUEUE_SIGNAL and trainer.is_global_zero:
            requeue_slurm_job()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage not in ("fit", "test") or threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._previous.items():
            # A stopping process keeps ignoring SIGTERM (a requeue sends it to every rank) while it
            # writes its results; SLURM's SIGKILL after KillWait still ends a process that hangs.
            if not (self._stopping and signum != signal.SIGINT):
                signal.signal(signum, handler)
        self._previous = {}


class Agreement:
    """When the ranks of a fit next all-reduce their stop flags: at training steps that log
    (multiples of `log_every_n_steps`, where Lightning syncs anyway) spaced to about
    `AGREE_EVERY_S` seconds of work (every so many steps where one logging interval takes longer),
    at each epoch's last batch, and at the end of each validation. Each agreement carries
    every rank's measured pace, and all ranks take the slowest, so they agree at the same batches.
    Until the first agreement: at the first step that logs."""

    def __init__(self, trainer: pl.Trainer | None = None) -> None:
        self.unit = max(int(getattr(trainer, "log_every_n_steps", 1) or 1), 1)
        self.every_steps = self.unit
        self._step_seen = trainer.global_step if trainer is not None else 0
        self._since, self._batches = time.perf_counter(), 0

    def due_in_training(self, trainer: pl.Trainer) -> bool:
        self._batches += 1
        stepped, self._step_seen = trainer.global_step != self._step_seen, trainer.global_step
        return is_last_batch(trainer) or (stepped and trainer.global_step % self.every_steps == 0)

    def agree(self, trainer: pl.Trainer, urgency: int) -> int:
        """The highest `urgency` over all ranks (one all-reduce); sets when they agree next."""
        pace = self._batches / max(time.perf_counter() - self._since, 1e-6)  # batches a second
        fits = int(min(AGREE_EVERY_S * pace, 1e9))
        flags = torch.tensor([urgency, -fits], dtype=torch.int64, device=trainer.strategy.root_device)
        urgency, fits = trainer.strategy.reduce(flags, reduce_op="max").tolist()
        fits = max(-fits, 1)
        self.every_steps = fits - fits % self.unit if fits >= self.unit else fits
        self._since, self._batches = time.perf_counter(), 0
        return urgency


def _fitting(trainer: pl.Trainer) -> bool:
    return trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking


def _validation_follows(trainer: pl.Trainer, batch_idx: int) -> bool:
    # The cheap test first: it runs after every training batch, and is false at most of them.
    if not validation_follows(trainer, batch_idx):
        return False
    every = trainer.check_val_every_n_epoch
    return bool(trainer.enable_validation) and (every is None or (trainer.current_epoch + 1) % every == 0)


@dataclass(frozen=True)
class Stop:
    """How a fit that did not complete ended, for its record and the process's exit code."""

    status: str  # interrupted | diverged | failed | what the exception says (`status`)
    exit_code: int | None = None  # None: the exception goes on as it is
    error: str | None = None  # the one-line reason of a failure
    message: str | None = None  # what to tell the user, when lit-dl says it (a second Ctrl-C)
    rewind: bool = False  # no stop checkpoint: the record goes back to the last one


def how_it_stopped(trainer: pl.Trainer | None, error: BaseException) -> Stop:
    """Read the exception that ended a fit: a signal (StopOnSignal), a second Ctrl-C (after which
    Lightning itself exits with code 1), an exception that names its own status, or a failure."""
    callback = next((c for c in getattr(trainer, "callbacks", None) or [] if isinstance(c, StopOnSignal)), None)
    signum = callback.stopped_by if callback is not None else None
    if isinstance(error, SIGTERMException):
        return Stop("interrupted", 128 + int(signum or signal.SIGTERM))
    # Under DDP a rank that aborted at the second Ctrl-C breaks the collective another rank waits
    # in, where the two Ctrl-Cs arrived as one pending signal: that failure is the same abort.
    peer_aborted = isinstance(error, RuntimeError) and callback is not None and callback.received == signal.SIGINT and trainer.world_size > 1
    if isinstance(error, KeyboardInterrupt) or (isinstance(error, SystemExit) and signum == signal.SIGINT) or peer_aborted:
        step = trainer.global_step if trainer is not None else 0
        # Outside the fit's loop (starting, testing after fit) Python's own handler raises at the first Ctrl-C.
        second = peer_aborted or (callback is not None and callback.aborted)
        what = "aborted by a second Ctrl-C" if second else "stopped by Ctrl-C outside the training loop"
        return Stop("interrupted", 128 + signal.SIGINT, rewind=True, message=f"lit-dl: {what} at step "
                    f"{step}; the run goes back to its last saved checkpoint (resume with --ckpt_path last)")
    status = getattr(error, "status", None)
    if isinstance(status, str):
        return Stop(status, getattr(error, "exit_code", None), error=one_line(error))
    return Stop("failed", error=one_line(error))


def ended_fit(trainer: pl.Trainer | None, error: BaseException, began: bool) -> tuple[Stop, dict[str, int]]:
    """How the fit that raised `error` ended, and the progress its record keeps: the trainer's,
    or after an abort (no stop checkpoint) that of `last.ckpt`, to which rank zero rewinds the logs."""
    stop = how_it_stopped(trainer, error)
    if trainer is None:
        return stop, {}
    if stop.rewind and trainer.is_global_zero and began:
        return stop, rewind_to_last_checkpoint(trainer)
    return stop, {"epochs": trainer.current_epoch, "steps": trainer.global_step}


def requeue_slurm_job() -> None:
    """`scontrol requeue` this SLURM job (this array task); nothing outside a SLURM job."""
    env = os.environ
    job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}" if env.get("SLURM_ARRAY_TASK_ID") else env.get("SLURM_JOB_ID")
    if not job or not re.fullmatch(r"[0-9_]+", job):
        return
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"lit-dl: could not requeue SLURM job {job}: {error}", file=sys.stderr, flush=True)
        return
    outcome = "requeued" if done.returncode == 0 else f"could not requeue ({done.stderr.strip() or done.returncode})"
    print(f"lit-dl: {outcome} SLURM job {job}", file=sys.stderr, flush=True)


def resume_command(checkpoint: str | Path) -> str:
    """The command that continues the run a checkpoint belongs to, in that run's directory."""
    config = RunPaths(Path(checkpoint).parent.parent).config
    return shlex.join(["lit-dl", "fit", "--config", str(config), "--ckpt_path", str(checkpoint)])
