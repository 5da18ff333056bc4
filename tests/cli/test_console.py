"""What a fit prints, as a user sees it: a real `lit-dl` process, stdout and stderr together."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.helpers.paths import QUICKSTART, REPO, SMALL_QUICKSTART


def console(*args) -> list[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "LIT_DL_DEBUG"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "lit_dl.cli", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stdout
    return done.stdout.splitlines()


# Without the one-cycle schedule, whose length is fixed when the run starts, a run can be extended.
FIT = ["fit", "--config", QUICKSTART, *SMALL_QUICKSTART, "--model.init_args.scheduler", "null"]


def test_a_fit_says_what_trains_and_where_in_four_lines_then_epochs(tmp_path):
    lines = console(*FIT, "--trainer.default_root_dir", tmp_path)
    first_epoch = next(i for i, line in enumerate(lines) if line.startswith("epoch 1/2 ("))
    run_dir = tmp_path / "quickstart" / "version_0"
    assert len(lines[:first_epoch]) == 4, lines
    assert re.fullmatch(r"quickstart \(seed 42\): Classifier with MLP, 4,547 parameters", lines[0])
    assert lines[1] == "data: ToyClassificationDataModule, 512 train / 256 val samples, 8 batches of 64 an epoch"
    assert lines[2] == "device: cpu, 1 process, precision 32-true"
    assert lines[3] == f"run: {run_dir}"
    assert lines[first_epoch + 1].startswith("epoch 2/2 (")
    assert lines[first_epoch + 2].startswith("test: test/acc ") and lines[-1] == str(run_dir)
    assert len(lines) == first_epoch + 4, lines  # nothing of Lightning's after the epochs either

    resumed = console(*FIT, "--trainer.default_root_dir", tmp_path, "--trainer.max_epochs", "3", "--ckpt_path", "last")
    first_epoch = next(i for i, line in enumerate(resumed) if line.startswith("epoch 3/3 ("))
    assert first_epoch == 5, resumed  # "Checkpoint directory ... exists and is not empty" is not among them
    assert resumed[3] == f"resumed: {run_dir / 'checkpoints' / 'last.ckpt'} at epoch 3, step 16"


def test_help_lists_every_command_with_one_line_each(lit_dl):
    from lit_dl.cli.table import BY_NAME

    COMMANDS = {name: command.summary for name, command in BY_NAME.items()}
    code, out, _ = lit_dl("--help")
    assert code == 0
    assert {"fit", "validate", "test", "predict", "lr-find", "compare", "sweep", "plot", "check"} <= set(COMMANDS)
    ours = [line for line in out.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    listed = {line.split()[0]: line for line in ours if line.split()[0] in COMMANDS}
    assert list(listed) == list(COMMANDS)
    for name, line in listed.items():
        assert line.rstrip().endswith(".") and len(line) <= 80, line  # a whole sentence on an 80-column line
    for name in ("fit", "validate", "test", "predict"):  # LightningCLI's own list says the same
        assert COMMANDS[name].split(",")[0].split(";")[0].split(" (")[0] in " ".join(out.split())


def test_lit_dl_test_prints_the_test_line_of_fit_and_logs_at_the_checkpoint_step(lit_dl, tmp_path):
    import csv

    import torch

    base = ["--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *SMALL_QUICKSTART]
    code, fit_out, err = lit_dl("fit", *base)
    assert code == 0, err
    fit_line = next(line for line in fit_out.splitlines() if line.startswith("test: "))
    code, out, err = lit_dl("test", *base, "--ckpt_path", "best")
    assert code == 0, err
    run_dir = tmp_path / "quickstart" / "version_0"
    assert out.splitlines() == [fit_line, str(run_dir)]  # the best checkpoint, tested again: the same line
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False, map_location="cpu")
    with open(run_dir / "metrics.csv", newline="") as file:
        last = list(csv.DictReader(file))[-1]
    assert last["test/acc"] and float(last["epoch"]) == best["epoch"] and int(last["step"]) == best["global_step"] > 0
