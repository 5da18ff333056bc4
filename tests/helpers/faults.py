"""Real signals at drawn moments of a real `lit-dl fit`, for the fault matrix (tests/training/test_faults.py).

What is real: the `lit-dl fit` process (lit_dl.cli.main, as the console script runs it, in its
own process group as a shell's foreground job is), its DDP ranks (rank 1 started by Lightning
itself), the signals (sent with os.kill / os.killpg), the files on disk.

What is test-only, and why:
- the moment: the process signals itself (or its whole group) from a hook, so that a seed names
  one moment and the matrix repeats exactly; an outside sender would hit a random moment. The
  hooks are a callback added to the run's default callbacks (not to its config, so that
  config.yaml reruns as a user's would) and two file wrappers:
- inside a checkpoint write: the checkpoint is serialised first, the first part of its bytes is
  written and fsynced to lit-dl's temporary file, then the signal, then the rest, through
  lit-dl's own AtomicCheckpointIO (`_save_or_report_full_disk` is wrapped);
- inside the results.json write: lit_dl.run.files' `open` hands out a file whose write puts the
  first part of the text on disk, signals, then writes the rest (lit-dl's own temporary file and
  rename around it).
- the launcher (`serve`): every process is forked from one that has already imported lit-dl,
  saving 4-5 s of imports a process; the child sets up its process group, arguments,
  environment and output files as `lit-dl ...` started from a shell would have them.

    python -m tests.helpers.faults fit ...   # `lit-dl fit ...` with the fault in $LIT_DL_FAULT armed
    python -m tests.helpers.faults --serve   # the launcher: one JSON request a line on stdin
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FAULT_ENV = "LIT_DL_FAULT"
STOPS = {  # what the user (or SLURM) sends, in order
    "kill -9": ["SIGKILL"],
    "SIGTERM": ["SIGTERM"],
    "SIGINT": ["SIGINT"],
    "SIGINT twice": ["SIGINT", "SIGINT"],
    "SIGUSR1": ["SIGUSR1"],
}
SENT = "fault matrix: sending"
POINTS = ("training step", "validation", "checkpoint write", "test after fit", "results write")


@dataclass(frozen=True)
class Fault:
    """One stop at one moment.

    `at` counts, from 0, in the stopped process: the optimizer step in progress (training
    step), the validation batch during fit (-1: the sanity check), the checkpoint write, the
    test batch, or the results.json write. `hook` is where in a batch (start, backward, end),
    `share` how much of a file is written before the signal. `rank` sends it; `group`: to the
    whole process group (Ctrl-C in a terminal, SLURM's kill), else to that process alone.
    `second`: when the second Ctrl-C comes: at once, or inside the next file lit-dl writes after
    the first (the stop's checkpoint, or the results.json that records the stop)."""

    stop: str
    point: str
    at: int
    hook: str = "start"
    share: float = 0.5
    rank: int = 0
    group: bool = True
    second: str = "at once"

    def describe(self) -> str:
        where = {"checkpoint write": f"{self.share:.0%} into write {self.at}", "results write": f"{self.share:.0%} into write {self.at}"}
        detail = where.get(self.point, f"{self.hook} of batch {self.at}")
        extra = f", second {self.second}" if self.stop == "SIGINT twice" else ""
        return f"{self.stop} {self.point} ({detail}) from rank {self.rank} to {'the group' if self.group else 'itself'}{extra}"


# -- inside the stopped process ----------------------------------------------------------------------
class _Sender:
    """Sends the fault's signals: the first at the drawn moment, a second Ctrl-C after it."""

    def __init__(self, fault: Fault) -> None:
        self.fault, self.sent = fault, 0
        self.signals = [getattr(signal, name) for name in STOPS[fault.stop]]

    def mine(self) -> bool:
        return _rank() == self.fault.rank

    def send(self) -> None:
        while self.sent < len(self.signals):
            if self.sent and self.fault.second != "at once":
                return  # the next checkpoint or results write sends it (`in_write`)
            self._kill(self.signals[self.sent])

    def in_write(self) -> bool:
        """Whether a checkpoint or results write now should send the second Ctrl-C."""
        return 0 < self.sent < len(self.signals) and self.mine()

    def send_second(self) -> None:
        self._kill(self.signals[self.sent])

    def _kill(self, signum: int) -> None:
        self.sent += 1
        # Said before it is sent, so that even a kill -9 leaves the line: the fault did fire.
        print(f"{SENT} {signal.Signals(signum).name} from pid {os.getpid()}", file=sys.stderr, flush=True)
        if self.fault.group:
            os.killpg(os.getpgrp(), signum)
        else:
            os.kill(os.getpid(), signum)


def _rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def _injector(sender: _Sender) -> Any:
    import lightning.pytorch as pl
    from lightning.pytorch.trainer.states import TrainerFn

    fault = sender.fault

    class InjectFault(pl.Callback):
        """Sends the fault's signal at its batch (training step, validation, test after fit)."""

        def __init__(self) -> None:
            self.validation_batches = 0

        def _at(self, point: str, hook: str, index: int) -> None:
            if fault.point == point and fault.hook == hook and index == fault.at and not sender.sent and sender.mine():
                sender.send()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            self._at("training step", "start", trainer.global_step)

        def on_after_backward(self, trainer, pl_module) -> None:
            self._at("training step", "backward", trainer.global_step)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self._at("training step", "end", trainer.global_step - 1)

        def _validation(self, trainer, hook: str, batch_idx: int) -> None:
            if trainer.state.fn != TrainerFn.FITTING:
                return
            if trainer.sanity_checking:
                self._at("validation", hook, -1 - batch_idx)
            else:
                self._at("validation", hook, self.validation_batches)

        def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
            self._validation(trainer, "start", batch_idx)

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
            self._validation(trainer, "end", batch_idx)
            if not trainer.sanity_checking and trainer.state.fn == TrainerFn.FITTING:
                self.validation_batches += 1

        def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
            self._at("test after fit", "start", batch_idx)

        def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
            self._at("test after fit", "end", batch_idx)

    return InjectFault()


class _SignallingFile:
    """A text file whose first write puts `share` of its text on disk, then calls `then()`."""

    def __init__(self, file: Any, share: float, then: Any) -> None:
        self._file, self._share, self._then = file, share, then

    def write(self, text: str) -> int:
        if self._then is None:
            return self._file.write(text)
        cut = int(len(text) * self._share)
        self._file.write(text[:cut])
        self._file.flush()
        os.fsync(self._file.fileno())
        then, self._then = self._then, None
        then()
        return cut + self._file.write(text[cut:])

    def __enter__(self) -> _SignallingFile:
        self._file.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._file.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def arm(fault: Fault) -> None:
    """Put the fault's hooks into this process (before lit_dl.cli.main runs)."""
    from lit_dl.training.defaults import RunDefaults

    sender = _Sender(fault)
    injector = _injector(sender)
    default_callbacks = RunDefaults.callbacks

    def callbacks(self, configured, progress_bar_enabled=True):
        return [*default_callbacks(self, configured, progress_bar_enabled), injector]

    RunDefaults.callbacks = callbacks
    _hook_checkpoint_writes(sender)
    _hook_results_writes(sender)


def _hook_checkpoint_writes(sender: _Sender) -> None:
    """Inside the fault's checkpoint write (and the write after a first Ctrl-C): `share` of the
    serialised checkpoint is on disk in lit-dl's temporary file when the signal goes."""
    from lit_dl.training import checkpoint_io

    fault, save, count = sender.fault, checkpoint_io._save_or_report_full_disk, iter(range(1 << 30))

    def save_and_signal(checkpoint, file, target):
        first = fault.point == "checkpoint write" and next(count) == fault.at and not sender.sent and sender.mine()
        if not (first or sender.in_write()):
            return save(checkpoint, file, target)
        buffer = io.BytesIO()
        save(checkpoint, buffer, target)
        data = buffer.getvalue()
        cut = int(len(data) * fault.share)
        file.write(data[:cut])
        file.flush()
        os.fsync(file.fileno())
        (sender.send if first else sender.send_second)()
        file.write(data[cut:])

    checkpoint_io._save_or_report_full_disk = save_and_signal


def _hook_results_writes(sender: _Sender) -> None:
    """Inside the fault's results.json write (and the write after a first Ctrl-C): `share` of the
    text is on disk in lit-dl's temporary file when the signal goes."""
    from lit_dl.run import files

    fault, count = sender.fault, iter(range(1 << 30))

    def open_and_signal(path, *args, **kwargs):
        file = open(path, *args, **kwargs)
        if not Path(path).name.startswith("results.json"):
            return file
        if fault.point == "results write" and next(count) == fault.at and not sender.sent and sender.mine():
            return _SignallingFile(file, fault.share, sender.send)
        if sender.in_write():
            return _SignallingFile(file, fault.share, sender.send_second)
        return file

    files.open = open_and_signal  # lit_dl.run.files looks `open` up in its globals first


def _armed_main(argv: list[str]) -> None:
    spec = os.environ.get(FAULT_ENV)
    if spec:
        arm(Fault(**json.loads(spec)))
    from lit_dl.cli import main

    main(argv)


# -- the launcher ------------------------------------------------------------------------------------
def serve() -> None:
    """Fork one `lit-dl` process per request line {"argv", "env", "stdout", "stderr"}; answer
    {"pid"} when it started and {"returncode"} (negative: the signal that killed it) when it ended."""
    import lit_dl.cli  # noqa: F401  everything a fit imports, once
    import lit_dl.cli.app  # noqa: F401
    import lit_dl.cli.run_check  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


def _child(request: dict[str, Any]) -> None:
    """Become `lit-dl ARGV...` started from a shell: own process group, environment, output."""
    code = 1
    try:
        os.setsid()
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        for descriptor, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), descriptor)
        sys.stdin = open(0, closefd=False)
        os.environ.clear()
        os.environ.update(request["env"])
        # Lightning starts DDP rank 1 as `python -m <this module> ARGV...` (sys.argv[1:]).
        sys.argv = [__file__, *request["argv"]]
        try:
            _armed_main(request["argv"])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001  a traceback as the console script would print it
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Launcher:
    """The test's side of `serve`: `run(argv, env, log)` -> (returncode, stdout, stderr)."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.faults", "--serve"], cwd=cwd, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        self._buffer = b""

    def run(self, argv: list[str], log: Path, fault: Fault | None = None, timeout: float = 180) -> tuple[int, str, str]:
        env = dict(self.env)
        if fault is not None:
            env[FAULT_ENV] = json.dumps(asdict(fault))
        out, err = log.with_suffix(".out"), log.with_suffix(".err")
        request = {"argv": [str(a) for a in argv], "env": env, "stdout": str(out), "stderr": str(err)}
        self.process.stdin.write(json.dumps(request) + "\n")
        pid = self._answer(60)["pid"]
        try:
            code = self._answer(timeout)["returncode"]
        except TimeoutError:
            os.killpg(pid, signal.SIGKILL)  # a hung stop: the whole group, as SLURM would after KillWait
            self._answer(60)
            raise
        return code, out.read_text(), err.read_text()

    def _answer(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"no answer from the launcher in {timeout:.0f} s")
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("the launcher died")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        _armed_main(sys.argv[1:])
