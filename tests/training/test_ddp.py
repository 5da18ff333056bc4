"""DDP from the CLI, tested on the CPU: two processes (gloo) train the small quickstart."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys

import pytest
import torch

from tests.helpers import exit_probe
from tests.helpers.paths import EXPERIMENTS, QUICKSTART, REPO
from tests.training.test_resume import callback, environment, lit_dl_process


def callback_in_helpers(class_name: str, **init_args: str) -> list[str]:
    flags = [f"--trainer.callbacks+=tests.helpers.callbacks.{class_name}"]
    for name, value in init_args.items():
        flags += [f"--trainer.callbacks.{name}", str(value)]
    return flags

PER_RANK_STEPS, EPOCHS = 4, 2
SMALL = [
    "--trainer.max_epochs", str(EPOCHS),
    "--data.init_args.n_train", str(2 * 64 * PER_RANK_STEPS),
    "--data.init_args.n_val", "256",
    "--data.init_args.n_test", "256",
    "--trainer.log_every_n_steps", "1",
]
CPU_DDP = [
    "--config", str(EXPERIMENTS / "trainer" / "ddp.yaml"),
    "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.precision", "32-true",
]


@pytest.mark.slow
def test_two_processes_train_one_run_written_once_by_rank_zero(tmp_path):
    run_dir = tmp_path / "quickstart" / "version_0"

    ddp = lit_dl_process("fit", "--config", QUICKSTART, *CPU_DDP, "--trainer.default_root_dir", tmp_path, *SMALL)

    assert ddp.returncode == 0, ddp.stderr
    assert "device: cpu, 2 processes" in ddp.stdout  # lit-dl's own start-up line
    lines = ddp.stdout.strip().splitlines()
    assert lines[-1] == str(run_dir)
    # One run directory, one results.json, one set of checkpoints: rank 1 wrote nothing.
    assert lines.count(str(run_dir)) == 1 and sum(line.startswith("test:") for line in lines) == 1
    assert sorted(p.name for p in (tmp_path / "quickstart").iterdir()) == ["version_0"]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    # Each rank trained on its half of the data: half the optimizer steps of one process.
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == EPOCHS * PER_RANK_STEPS
    with open(run_dir / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert sum(1 for r in rows if r.get("val/loss")) == EPOCHS
    ddp_val = json.loads((run_dir / "results.json").read_text())["val"]

    # The logged validation metrics are reduced over both ranks' halves of the validation set:
    # one process validating the same weights on the whole set finds the same values.
    single = lit_dl_process(
        "validate", "--config", QUICKSTART, "--trainer.accelerator", "cpu", "--trainer.devices", "1",
        "--trainer.default_root_dir", tmp_path, *SMALL, "--ckpt_path", run_dir / "checkpoints" / "last.ckpt",
    )

    assert single.returncode == 0, single.stderr
    single_val = json.loads((run_dir / "results.json").read_text())["val"]
    assert single_val.keys() == ddp_val.keys() == {"val/loss", "val/acc"}
    for name in ddp_val:
        assert ddp_val[name] == pytest.approx(single_val[name], abs=1e-6), name


@pytest.mark.slow
@pytest.mark.parametrize("during", ["validation", "save"])
def test_a_signal_to_one_rank_stops_every_rank_at_the_same_batch(during, tmp_path):
    # Lightning's own handler broadcast inside the handler and deadlocked here (until the timeout).
    args = ["fit", "--config", QUICKSTART, *CPU_DDP, "--trainer.default_root_dir", tmp_path, *SMALL]
    run_dir = tmp_path / "quickstart" / "version_0"

    stopped = lit_dl_process(*args, *callback("SignalOneRank", rank=1, during=during))

    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert "lit-dl: stopped by SIGTERM at step " in stopped.stderr
    last = run_dir / "checkpoints" / "last.ckpt"
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"

    resumed = lit_dl_process(*args, "--ckpt_path", last)

    assert resumed.returncode == 0, resumed.stderr
    with open(run_dir / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["epoch"]) for r in rows if r.get("val/loss")] == list(range(EPOCHS))
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_sigterm_to_every_rank_in_the_test_after_fit_stops_it_and_the_resume_finishes_the_record(tmp_path):
    """Lightning's own SIGTERM handler, active in the test after fit, broadcast inside the handler
    and hung both ranks (found by the fault matrix); StopOnSignal now stops the test at a batch."""
    args = ["fit", "--config", QUICKSTART, *CPU_DDP, "--trainer.default_root_dir", tmp_path, *SMALL, "--data.init_args.eval_batch_size", "64"]
    run_dir = tmp_path / "quickstart" / "version_0"

    stopped = lit_dl_process(*args, *callback_in_helpers("SignalInTest", signal_name="SIGTERM"))

    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert "lit-dl: stopped by SIGTERM in the test after fit (the training is complete); finish the run's record with: " in stopped.stderr
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"

    resumed = lit_dl_process(*args, "--ckpt_path", "last")  # the run's config.yaml holds the signalling callback

    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed" and set(record["test"]) >= {"test/loss", "test/acc"}


@pytest.mark.slow
@pytest.mark.parametrize("stop", [None, "validation"])
def test_every_rank_leaves_its_process_group_and_exits_with_the_runs_code(stop, tmp_path):
    """Under a launcher that watches every rank (torchrun here, srun on a cluster): each rank ends
    with the run's exit code, having left its process group before Python's finalization."""
    stopping = callback("SignalOneRank", rank=1, during=stop) if stop else []
    args = ["fit", "--config", QUICKSTART, *CPU_DDP, "--trainer.default_root_dir", tmp_path / "runs", *SMALL, *stopping]

    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         exit_probe.__file__, *map(str, args)],
        cwd=REPO, env=environment(EXIT_PROBE_DIR=str(tmp_path)), capture_output=True, text=True, timeout=300,
    )

    expected = 128 + signal.SIGTERM if stop else 0
    assert exit_probe.read(tmp_path, 2) == [{"code": expected, "group_open": False}] * 2, launched.stderr
    assert launched.returncode == (1 if stop else 0), launched.stderr  # torchrun's own code for a failed rank
    run_dir = tmp_path / "runs" / "quickstart" / "version_0"
    assert json.loads((run_dir / "results.json").read_text())["status"] == ("interrupted" if stop else "completed")
    assert lit_dl_process("check", run_dir).returncode == 0
