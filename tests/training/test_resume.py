"""Exact resume: a run killed at any moment and continued ends as if it had never stopped.

The slow tests train the small quickstart (dropout on, so the RNG states matter) in separate
processes and kill them from inside, at a given step, so the kill point is deterministic:
SIGKILL mid-epoch, during validation and in the middle of writing a checkpoint; SIGTERM and
SIGINT; a SLURM job requeued before its time limit.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from tests.helpers.paths import QUICKSTART, REPO

TESTS = Path(__file__).resolve().parent
STEPS_PER_EPOCH, EPOCHS, CHECKPOINT_EVERY = 8, 3, 5
RESUMABLE = [
    "--trainer.max_epochs", str(EPOCHS),
    "--data.init_args.n_train", str(64 * STEPS_PER_EPOCH),
    "--data.init_args.n_val", "256",
    "--data.init_args.n_test", "256",
    "--model.init_args.net.init_args.dropout", "0.2",
    # Every step, so that every logged value belongs to the row of its own step.
    "--trainer.log_every_n_steps", "1",
    "--trainer.callbacks+=lit_dl.training.periodic.PeriodicCheckpoint",
    "--trainer.callbacks.every_n_train_steps", str(CHECKPOINT_EVERY),
]


# -- test-only callbacks, named by class path in the processes they stop -------------------------
class KillAtStep(pl.Callback):
    """Send `signum` to this process once `step` optimizer steps are done (before any save)."""

    def __init__(self, step: int, signum: int = 9) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class KillInValidation(pl.Callback):
    """SIGKILL halfway through the validation at the end of `epoch` (0-based)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.current_epoch == self.epoch and not trainer.sanity_checking and batch_idx == 0:
            os.kill(os.getpid(), signal.SIGKILL)


class KillWhileSaving(pl.Callback):
    """SIGKILL in the middle of writing the checkpoint of `step`: half the bytes are on disk."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if trainer.global_step != self.step:
            return
        save = torch.save

        def save_half_then_die(obj, file, *args, **kwargs):
            import io

            buffer = io.BytesIO()
            save(obj, buffer, *args, **kwargs)
            file.write(buffer.getvalue()[: buffer.tell() // 2])
            file.flush()
            os.fsync(file.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = save_half_then_die


class SlurmTimeLimit(pl.Callback):
    """What SLURM does near a job's time limit: SIGUSR1 at `warn_step`. A requeued run is left alone."""

    def __init__(self, warn_step: int) -> None:
        self.warn_step = warn_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not int(os.environ.get("SLURM_RESTART_COUNT", 0)) and trainer.global_step == self.warn_step:
            os.kill(os.getpid(), signal.SIGUSR1)


class SignalOneRank(pl.Callback):
    """SIGTERM to one rank only: at the start of the first validation batch after training began
    (`during=validation`), or while the first checkpoint is being saved (`during=save`: that rank
    then waits in the save's barrier while rank 0 writes)."""

    def __init__(self, rank: int, during: str) -> None:
        self.rank, self.during, self.sent = rank, during, False

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.during == "validation" and not trainer.sanity_checking:
            self._send(trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if self.during == "save":
            self._send(trainer)

    def _send(self, trainer) -> None:
        if trainer.global_rank == self.rank and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


class PoisonWeights(pl.Callback):
    """Make every weight NaN before the batch of optimizer step `step` + 1."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                for parameter in pl_module.parameters():
                    parameter.fill_(float("nan"))


# -- helpers ---------------------------------------------------------------------------------------
def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "LIT_DL_"))}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(TESTS), str(REPO)]), **extra)
    return env


def lit_dl_process(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lit_dl.cli", *map(str, args)],
        cwd=REPO, env=env or environment(), capture_output=True, text=True, timeout=300,
    )


def fit(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return lit_dl_process("fit", "--config", QUICKSTART, "--trainer.default_root_dir", root, *RESUMABLE, *extra)


def callback(class_name: str, **init_args: int | str) -> list[str]:
    flags = [f"--trainer.callbacks+=tests.training.test_resume.{class_name}"]
    for name, value in init_args.items():
        flags += [f"--trainer.callbacks.{name}", str(value)]
    return flags


def final_state(run_dir: Path) -> dict:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == EPOCHS * STEPS_PER_EPOCH
    return checkpoint["state_dict"]


def assert_same_run(resumed: Path, reference: Path) -> None:
    """Bit-identical final weights, the same results and the same metrics.csv."""
    expected, got = final_state(reference), final_state(resumed)
    assert expected.keys() == got.keys()
    different = [name for name in expected if not torch.equal(expected[name], got[name])]
    assert not different, f"weights differ after resume: {different}"
    results = [json.loads((d / "results.json").read_text()) for d in (reference, resumed)]
    assert results[0]["val"] == results[1]["val"] and results[0]["test"] == results[1]["test"]
    assert (resumed / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()


def step_of(checkpoint: Path) -> int:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    done = fit(root)
    assert done.returncode == 0, done.stderr
    return root / "quickstart" / "version_0"


# -- SIGKILL at any moment ---------------------------------------------------------------------------
KILLS = {
    # killed after step 13, mid-epoch 2: continues from the step-10 checkpoint, mid-epoch too
    "mid-epoch": (callback("KillAtStep", step=13), 10),
    # killed while validating after epoch 2: continues from step 15, redoes step 16 and validates
    "during validation": (callback("KillInValidation", epoch=1), 15),
    # killed while writing the step-15 checkpoint: last.ckpt is still the whole step-10 one
    "while saving a checkpoint": (callback("KillWhileSaving", step=15), 10),
}


@pytest.mark.slow
@pytest.mark.parametrize("kill", KILLS, ids=list(KILLS))
def test_killed_run_resumes_to_the_same_weights_and_metrics(kill, uninterrupted, tmp_path):
    flags, resume_step = KILLS[kill]
    killed = fit(tmp_path, *flags)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_dir = tmp_path / "quickstart" / "version_0"
    checkpoints = run_dir / "checkpoints"
    assert step_of(checkpoints / "last.ckpt") == resume_step  # whole, never truncated
    if kill == "while saving a checkpoint":
        assert list(checkpoints.glob("last.ckpt.tmp-*")), "the kill should have cut a temporary file"

    resumed = fit(tmp_path, "--ckpt_path", "last")

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)
    assert sorted(p.name for p in (tmp_path / "quickstart").iterdir()) == ["version_0"]
    assert not list(checkpoints.glob("*.tmp-*"))
    assert_same_run(run_dir, uninterrupted)


@pytest.mark.slow
def test_a_run_killed_before_its_first_save_is_trained_again_by_the_same_resume(uninterrupted, tmp_path):
    killed = fit(tmp_path, *callback("KillAtStep", step=2))  # the first save comes at step 5
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_dir = tmp_path / "quickstart" / "version_0"
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()

    resumed = fit(tmp_path, "--ckpt_path", "last")

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)
    assert sorted(p.name for p in (tmp_path / "quickstart").iterdir()) == ["version_0"]
    assert_same_run(run_dir, uninterrupted)  # the rows of the killed attempt are gone too


# -- SIGTERM / SIGINT ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_a_checkpoint_and_says_how_to_resume(signum, uninterrupted, tmp_path):
    stopped = fit(tmp_path, *callback("KillAtStep", step=13, signum=int(signum)))

    assert stopped.returncode == 128 + signum, stopped.stderr
    assert "Traceback" not in stopped.stderr
    line = stopped.stderr.strip().splitlines()[-1]
    run_dir = tmp_path / "quickstart" / "version_0"
    assert line.startswith(f"lit-dl: stopped by {signal.Signals(signum).name} at step 13; saved ")
    assert step_of(run_dir / "checkpoints" / "last.ckpt") == 13
    command = shlex.split(line.split("resume with: ", 1)[1])
    assert command[:2] == ["lit-dl", "fit"] and str(run_dir / "config.yaml") in command

    # The printed command continues the run where it stopped.
    resumed = lit_dl_process(*command[1:])

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)
    assert_same_run(run_dir, uninterrupted)


# -- SLURM ------------------------------------------------------------------------------------------
def fake_slurm(tmp_path: Path, job_id: str, **extra: str) -> dict[str, str]:
    """An environment in which scripts/slurm/ddp.sbatch runs here: `srun` runs its command,
    `scontrol` records its arguments, and the SLURM variables describe one task on one node."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "srun").write_text('#!/bin/bash\nexec "$@"\n')
    (bin_dir / "scontrol").write_text(f'#!/bin/bash\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    lit_dl_script = bin_dir / "lit-dl"
    lit_dl_script.write_text(f'#!/bin/bash\nexec {shlex.quote(sys.executable)} -m lit_dl.cli "$@"\n')
    lit_dl_script.chmod(0o755)
    return environment(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        SLURM_JOB_ID=job_id, SLURM_JOB_NAME="lit-dl", SLURM_NTASKS="1", SLURM_NTASKS_PER_NODE="1",
        SLURM_JOB_NUM_NODES="1", SLURM_NNODES="1", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0",
        SLURM_NODELIST="localhost", SLURM_JOB_NODELIST="localhost", **extra,
    )


def sbatch(root: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    """scripts/slurm/ddp.sbatch on the CPU, as the batch script of a one-task job."""
    return subprocess.run(
        [
            "bash", "scripts/slurm/ddp.sbatch", str(QUICKSTART),
            "--trainer.accelerator", "cpu", "--trainer.precision", "32-true",
            "--trainer.default_root_dir", str(root), *RESUMABLE, *extra,
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
def test_requeued_slurm_job_continues_from_its_checkpoint_by_itself(tmp_path):
    reference = sbatch(tmp_path / "reference", fake_slurm(tmp_path, "1000"))
    assert reference.returncode == 0, reference.stderr
    limit = callback("SlurmTimeLimit", warn_step=11)
    root = tmp_path / "runs"

    first = sbatch(root, fake_slurm(tmp_path, "1001"), *limit)

    # lit-dl's handler, not Lightning's: last.ckpt at the next batch boundary, then the requeue.
    assert first.returncode == 128 + signal.SIGUSR1, first.stderr
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "1001"]
    run_dir = root / "quickstart" / "version_0"
    assert step_of(run_dir / "checkpoints" / "last.ckpt") == 11
    assert not list((run_dir / "checkpoints").glob("hpc_ckpt_*"))

    # SLURM runs the same script again, same job id; nothing says where to continue from.
    requeued = sbatch(root, fake_slurm(tmp_path, "1001", SLURM_RESTART_COUNT="1"), *limit)

    assert requeued.returncode == 0, requeued.stderr
    assert f"resumed: {run_dir / 'checkpoints' / 'last.ckpt'}" in requeued.stdout  # lit-dl's own start-up line
    assert sorted(p.name for p in (root / "quickstart").iterdir()) == ["version_0"]
    assert_same_run(run_dir, tmp_path / "reference" / "quickstart" / "version_0")


# -- fast: diverged training, atomic writes, the pieces of a resume --------------------------------
def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(lit_dl, tmp_path):
    code, out, err = lit_dl(
        "fit", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path,
        *RESUMABLE, *callback("PoisonWeights", step=7),
    )

    assert code == 2
    assert "Traceback" not in err
    last = tmp_path / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    line = err.strip().splitlines()[-1]
    assert line.startswith("lit-dl: error: the training loss became NaN or infinite at step 8 (epoch 1)")
    assert f"the last good checkpoint is kept: {last}" in line
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == CHECKPOINT_EVERY
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())


def test_atomic_save_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    from lit_dl.training.checkpoint_io import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    target = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"step": 1}, target)
    (target.parent / "last.ckpt.tmp-999999").write_bytes(b"left by a killed process")

    def half_written(obj, file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", half_written)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"step": 2}, target)
    monkeypatch.undo()

    assert io.load_checkpoint(target) == {"step": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]
    io.save_checkpoint({"step": 3}, target)
    assert io.load_checkpoint(target) == {"step": 3}


def test_resumed_log_forgets_the_rows_logged_after_the_checkpoint(tmp_path):
    from lit_dl.training.csv_logger import RunCSVLogger

    run_dir = tmp_path / "exp" / "version_0"
    first = RunCSVLogger(run_dir)
    for step in range(6):
        first.log_metrics({"train/loss": float(step)}, step=step)
    first.save()

    resumed = RunCSVLogger(run_dir)
    resumed.drop_rows_from_step(4)
    resumed.log_metrics({"train/loss": 40.0, "val/loss": 1.0}, step=4)
    resumed.save()

    with open(run_dir / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["step"], r["train/loss"], r["val/loss"]) for r in rows] == [
        ("0", "0.0", ""), ("1", "1.0", ""), ("2", "2.0", ""), ("3", "3.0", ""), ("4", "40.0", "1.0"),
    ]
