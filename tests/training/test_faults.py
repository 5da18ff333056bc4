"""The fault matrix: a run stopped at a drawn moment, then continued as its user would, is whole
(`lit-dl check`) and ends with the weights of the run that was never stopped.

Stops: kill -9, SIGTERM, SIGINT, SIGINT twice, SIGUSR1, real signals to the real `lit-dl fit`
process (to its whole process group where a terminal or SLURM would send them there). Points:
inside a training step, inside validation, inside a checkpoint write, inside the test after fit,
inside the results.json write. A fixed list of seeds draws the moments: every stop x point pair
on one process, three times, and each twice on 2 DDP ranks (gloo, CPU). What is arranged for the test
and why is said in tests/helpers/faults.py (the moment is hooked so that a seed repeats; each
process is forked from one that already imported lit-dl, to save the imports).

After a stop that let lit-dl exit by itself, the run is already whole (`lit-dl check`). Then
the user's move: nothing when the run completed anyway; otherwise the command the stop printed,
else `lit-dl fit --config <the run's config.yaml> --ckpt_path last`, else (killed before it wrote
its config.yaml) the README's `lit-dl fit --config <experiment> ... --ckpt_path last`, else (the
stop removed a run that had not begun) the first command again. After it, the run is whole, its
last.ckpt holds the uninterrupted run's weights, and its results.json the same record.

    pytest -m faults          # 125 cases, about 8 minutes on 2 CPU cores
"""

from __future__ import annotations

import os
import random
import shlex
from pathlib import Path

import pytest
import torch

from tests.helpers.faults import POINTS, SENT, STOPS, Fault, Launcher
from tests.helpers.paths import QUICKSTART, REPO

pytestmark = pytest.mark.faults

SMALL = [
    "--config", str(QUICKSTART),
    "--data.init_args.eval_batch_size", "64",
    "--model.init_args.net.init_args.dropout", "0.2",  # so that the RNG states matter
    "--trainer.max_epochs", "3", "--trainer.log_every_n_steps", "1",
    "--defaults.checkpoint_every_n_steps", "3",  # mid-epoch saves too
]
CONFIGURATIONS = {
    # 4 steps an epoch, 2 validation and 2 test batches; checkpoint writes: steps 3, 4, 6, 8, 9, 12
    "one process": (
        [*SMALL, "--data.init_args.n_train", "256", "--data.init_args.n_val", "128", "--data.init_args.n_test", "128"],
        {"steps": 12, "validation batches": 6, "test batches": 2, "checkpoint writes": 6},
    ),
    # each rank: 3 steps an epoch, 2 validation and 2 test batches; checkpoint writes: steps 3, 6, 9
    "2 DDP ranks": (
        [*SMALL, "--data.init_args.n_train", "384", "--data.init_args.n_val", "256", "--data.init_args.n_test", "256",
         "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"],
        {"steps": 9, "validation batches": 6, "test batches": 2, "checkpoint writes": 3},
    ),
}
SINGLE_SEEDS = range(75)
DDP_SEEDS = range(100, 150)


def draw(seed: int, configuration: str) -> Fault:
    """The fault of one seed. One process: seed i takes stop x point pair i mod 25, so 75 seeds
    cover each pair three times; 2 DDP ranks: stop i mod 5 at point (i + i // 5) mod 5, 50 seeds:
    each pair twice."""
    sizes = CONFIGURATIONS[configuration][1]
    ddp = configuration != "one process"
    i = seed - DDP_SEEDS.start if ddp else seed
    stop = list(STOPS)[i % 5]
    point = POINTS[(i + i // 5) % 5] if ddp else POINTS[(i // 5) % 5]
    rng = random.Random(seed)
    hook, share, rank = "start", round(rng.random(), 2), rng.choice([0, 1]) if ddp else 0
    if point == "training step":
        at, hook = rng.randrange(sizes["steps"]), rng.choice(["start", "backward", "end"])
    elif point == "validation":
        at, hook = rng.randrange(-1, sizes["validation batches"]), rng.choice(["start", "end"])
    elif point == "test after fit":
        at, hook = rng.randrange(sizes["test batches"]), rng.choice(["start", "end"])
    else:  # only rank zero writes checkpoints and results.json
        at, rank = rng.randrange(sizes["checkpoint writes"] if point == "checkpoint write" else 2), 0
    # A terminal's Ctrl-C and SLURM's kill reach every process of the job; scancel's signals
    # and a preemption sometimes only one.
    group = stop in ("kill -9", "SIGINT", "SIGINT twice") or not ddp or rng.random() < 0.5
    second = rng.choice(["at once", "in the next write"]) if stop == "SIGINT twice" else "at once"
    return Fault(stop, point, at, hook, share, rank, group, second)


CASES = [("one process", seed) for seed in SINGLE_SEEDS] + [("2 DDP ranks", seed) for seed in DDP_SEEDS]


def case_id(case: tuple[str, int]) -> str:
    configuration, seed = case
    fault = draw(seed, configuration)
    short = {"one process": "1p", "2 DDP ranks": "ddp"}[configuration]
    return f"{short}-{seed}-{fault.stop}-{fault.point}".replace(" ", "_")


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def launcher():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "LIT_DL_", "MASTER_", "PL_"))}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), WANDB_MODE="offline", WANDB_SILENT="true")
    launcher = Launcher(REPO, env)
    yield launcher
    launcher.close()


@pytest.fixture(scope="module")
def references(launcher, tmp_path_factory):
    """The uninterrupted run of each configuration, made once: {configuration: run directory}."""
    made: dict[str, Path] = {}

    def reference(configuration: str) -> Path:
        if configuration not in made:
            root = tmp_path_factory.mktemp("reference")
            code, _, err = launcher.run(["fit", *CONFIGURATIONS[configuration][0], "--trainer.default_root_dir", root], root / "fit")
            assert code == 0, err
            run_dir = root / "quickstart" / "version_0"
            assert not check(run_dir.parent)
            made[configuration] = run_dir
        return made[configuration]

    return reference


# -- helpers --------------------------------------------------------------------------------------
def read_results(run_dir: Path) -> dict:
    from lit_dl.run.results import read_results

    return read_results(run_dir)


def check(experiment_dir: Path) -> dict[Path, list[str]]:
    from lit_dl.cli.run_check import check_runs
    from lit_dl.run.reader import find_runs

    if not experiment_dir.is_dir() or not any(experiment_dir.iterdir()):
        return {}  # a stop before the run began removes it
    return {run: problems for run, problems in check_runs(find_runs([str(experiment_dir)])).items() if problems}


def last_state(run_dir: Path) -> tuple[int, dict[str, torch.Tensor]]:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return checkpoint["global_step"], checkpoint["state_dict"]


def user_move(run_dir: Path, code: int, stderr: str, command: list[str]) -> list[str] | None:
    """What the user runs after the stop (`command` started the run); None when there is
    nothing to do."""
    if code == 0 and read_results(run_dir).get("status") == "completed":
        return None
    said = ("resume with: ", "finish the run's record with: ")
    printed = [line.split(marker, 1)[1] for line in stderr.splitlines() for marker in said if marker in line]
    if printed:
        resume = shlex.split(printed[-1])
        assert resume[:2] == ["lit-dl", "fit"], printed[-1]
        return resume[1:]
    if (run_dir / "config.yaml").is_file():
        return ["fit", "--config", str(run_dir / "config.yaml"), "--ckpt_path", "last"]
    # Stopped before it wrote its config.yaml: the README's resume, or, when the stop removed
    # the run (it had saved nothing), the same command again.
    return [*command, "--ckpt_path", "last"] if run_dir.is_dir() else command


RECORDED = ("status", "epochs", "steps", "best_score", "val", "val_last", "test")


# -- the matrix -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_a_stopped_run_resumes_whole_to_the_uninterrupted_weights(case, launcher, references, tmp_path):
    configuration, seed = case
    fault = draw(seed, configuration)
    flags = [*CONFIGURATIONS[configuration][0], "--trainer.default_root_dir", str(tmp_path / "runs")]
    experiment_dir = tmp_path / "runs" / "quickstart"
    run_dir = experiment_dir / "version_0"
    reference = references(configuration)

    command = ["fit", *flags]
    code, _, stderr = launcher.run(command, tmp_path / "stopped", fault=fault)
    story = [f"{fault.describe()}: exit {code}", *stderr.strip().splitlines()[-6:]]
    # A second Ctrl-C "in the next write" finds none when the first one ended a run that had not
    # begun (it is removed, nothing written).
    sent, signals = stderr.count(SENT), len(STOPS[fault.stop])
    assert sent == signals or (fault.second == "in the next write" and sent == 1), f"{sent} of {signals} signals sent:\n" + "\n".join(story)
    if fault.stop != "kill -9":
        assert "Traceback" not in stderr, "\n".join(story)
    if code >= 0:  # it exited by itself (not killed by a signal it had no handler for): a whole record
        assert_whole(experiment_dir, story, "after the stop")

    move = user_move(run_dir, code, stderr, command)
    if move is not None:
        resumed, out, err = launcher.run(move, tmp_path / "resumed")
        story += [f"then lit-dl {shlex.join(move)}: exit {resumed}", *err.strip().splitlines()[-6:]]
        assert resumed == 0, "\n".join(story)
        run_dir = Path(out.strip().splitlines()[-1])

    assert_whole(experiment_dir, story, "at the end")
    assert_same_run(run_dir, reference, story, abort=fault.stop in ("kill -9", "SIGINT twice"))


def assert_whole(experiment_dir: Path, story: list[str], when: str) -> None:
    broken = check(experiment_dir)
    assert not broken, "\n".join([*story, f"lit-dl check {when}:", *(f"{run}: {p}" for run, ps in broken.items() for p in ps)])


def assert_same_run(run_dir: Path, reference: Path, story: list[str], abort: bool = False) -> None:
    """The uninterrupted run's last.ckpt weights, results.json record and metrics.csv. After an
    abort (no stop checkpoint), one training step's row may be missing: a mid-epoch checkpoint is
    saved at a step's end before Lightning logs that step, and a kill or a second Ctrl-C in
    between loses the row (the resume starts after that step, so nobody logs it again)."""
    (step, got), (expected_step, expected) = last_state(run_dir), last_state(reference)
    assert step == expected_step, "\n".join(story)
    different = [name for name in expected if not torch.equal(expected[name], got[name])]
    assert not different, "\n".join([*story, f"weights differ from the uninterrupted run's: {different}"])
    record, expected_record = (read_results(run) for run in (run_dir, reference))
    wrong = [f"{key}: {record.get(key)} (uninterrupted: {expected_record.get(key)})" for key in RECORDED if record.get(key) != expected_record.get(key)]
    assert not wrong, "\n".join([*story, "results.json differs from the uninterrupted run's:", *wrong])
    rows, expected_rows = ((run / "metrics.csv").read_text().splitlines() for run in (run_dir, reference))
    extra, missing = sorted(set(rows) - set(expected_rows)), sorted(set(expected_rows) - set(rows))
    if abort and not extra and _one_unlogged_step(expected_rows[0], missing):
        expected_rows = [row for row in expected_rows if row not in missing]
    assert rows == expected_rows, "\n".join([*story, "metrics.csv differs from the uninterrupted run's:", *(f"+ {r}" for r in extra[:5]), *(f"- {r}" for r in missing[:5])])


def _one_unlogged_step(header: str, missing: list[str]) -> bool:
    """`missing` rows are one training step's (no validation or test values, all at one step)."""
    import csv

    rows = list(csv.DictReader([header, *missing]))
    evaluated = [key for key in rows[0] if key.startswith(("val/", "test/"))] if rows else []
    return len({row["step"] for row in rows}) == 1 and not any(row[key] for row in rows for key in evaluated)
