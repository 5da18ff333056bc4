"""`resolve_run`: which run directory each command works in, as a table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lit_dl.errors import UserError
from lit_dl.run.environment import Environment
from lit_dl.run.plan import RunRequest, experiment_name, resolve_run
from tests.helpers.typed import typed


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """runs/quickstart with version_0 (finished: best and last), version_1 (killed before its
    first save), and runs/other/version_0 (last only)."""
    root = tmp_path / "runs"
    for run, files in (("quickstart/version_0", ("best.ckpt", "last.ckpt")), ("quickstart/version_1", ()), ("other/version_0", ("last.ckpt",))):
        (root / run / "checkpoints").mkdir(parents=True)
        for name in files:
            (root / run / "checkpoints" / name).write_bytes(b"x")
    return root


# (command, name, config files, ckpt_path, environment) -> (experiment, run dir under root or None, checkpoint under root or None, new run)
CASES = [
    ("new fit", "fit", None, ["exp/quickstart.yaml"], None, Environment(), ("quickstart", None, None, True)),
    ("--name wins", "fit", "mine", ["exp/quickstart.yaml"], None, Environment(), ("mine", None, None, True)),
    ("no config file", "fit", None, [], None, Environment(), ("default", None, None, True)),
    ("a run's saved config reruns under its name", "fit", None, ["runs/other/version_0/config.yaml"], None, Environment(), ("other", None, None, True)),
    ("explicit checkpoint continues its run", "fit", None, ["q.yaml"], "quickstart/version_0/checkpoints/last.ckpt", Environment(),
     ("quickstart", "quickstart/version_0", "quickstart/version_0/checkpoints/last.ckpt", False)),
    ("test of a checkpoint writes into its run", "test", None, ["x.yaml"], "other/version_0/checkpoints/last.ckpt", Environment(),
     ("other", "other/version_0", "other/version_0/checkpoints/last.ckpt", False)),
    ("last of the newest run", "fit", None, ["other.yaml"], "last", Environment(), ("other", "other/version_0", "other/version_0/checkpoints/last.ckpt", False)),
    # A kill can come before the first save: the README's resume trains that run again from its start.
    ("last of a newest run killed before its first save", "fit", None, ["quickstart.yaml"], "last", Environment(),
     ("quickstart", "quickstart/version_1", None, False)),
    ("DDP child joins rank zero's run", "fit", None, ["quickstart.yaml"], None, Environment(rank=1, inherited_run_dir=Path("R")), ("quickstart", "=R", None, False)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_resolve_run(case, root):
    _, command, name, configs, ckpt, environment, (experiment, run_dir, checkpoint, new_run) = case
    configs = [str(root.parent / c) if c.startswith("runs/") else c for c in configs]
    ckpt = str(root / ckpt) if ckpt and "/" in ckpt else ckpt
    # As the command line gives them: strings built at run time, not the interned literals above.
    plan = resolve_run(RunRequest(typed(command), root, name and typed(name), configs, ckpt and typed(ckpt)), environment)
    assert plan.experiment == experiment
    expected_dir = Path(run_dir[1:]) if run_dir and run_dir.startswith("=") else (root / run_dir if run_dir else None)
    assert plan.run_dir == expected_dir
    assert plan.checkpoint == (root / checkpoint if checkpoint else None)
    assert plan.new_run == new_run


ERRORS = [
    ("last of a newest run without checkpoints never falls back", "test", "last", "quickstart/version_1, has no last checkpoint"),
    ("best likewise", "test", "best", "has no best checkpoint"),
    ("no run at all", "fit", "last", "no run of 'nothing'"),
    ("missing file", "fit", "missing.ckpt", "checkpoint not found"),
    ("test without a checkpoint", "test", None, "--ckpt_path best, last or PATH"),
    ("predict without a checkpoint", "predict", None, "--ckpt_path best, last or PATH"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[e[0] for e in ERRORS])
def test_resolve_run_errors(case, root):
    _, command, ckpt, message = case
    name = "nothing" if "no run at all" in case[0] else "quickstart"
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        resolve_run(RunRequest(typed(command), root, name, [], ckpt and typed(ckpt)), Environment())


@pytest.mark.parametrize("name", ["a/b", "..", ".", "/abs", "", "x" * 300, "..\\up"])
def test_name_is_one_path_component(name):
    with pytest.raises(UserError, match="--name"):
        experiment_name(name, [])


@pytest.mark.broken_runs("a hand-made record, not a real run")
@pytest.mark.parametrize("status", ["completed", "failed", "diverged", "pruned"])
def test_a_newest_run_that_ended_otherwise_without_checkpoint_is_not_trained_again(root, status):
    (root / "quickstart" / "version_1" / "results.json").write_text(f'{{"status": "{status}"}}')
    with pytest.raises(UserError, match="has no last checkpoint"):
        resolve_run(RunRequest(typed("fit"), root, "quickstart", [], typed("last")), Environment())


def test_requeued_slurm_job_continues_its_run(root):
    run = root / "quickstart" / "version_0"
    (run / "slurm_job").write_text("77:abc\n")
    environment = Environment(slurm_job="77:abc", slurm_restarted=True)
    plan = resolve_run(RunRequest("fit", root, None, ["quickstart.yaml"]), environment)
    assert (plan.run_dir, plan.checkpoint, plan.new_run) == (run, run / "checkpoints" / "last.ckpt", False)


def test_last_in_a_slurm_job_trains_again_the_newest_run_killed_before_its_first_save(root):
    """Rank zero takes that run even when its job marked another one earlier (a DDP child would
    join the marked run: that rule is for ranks other than zero)."""
    (root / "quickstart" / "version_0" / "slurm_job").write_text("77:abc\n")
    plan = resolve_run(RunRequest(typed("fit"), root, "quickstart", [], typed("last")), Environment(slurm_job="77:abc"))
    assert (plan.run_dir, plan.checkpoint) == (root / "quickstart" / "version_1", None)


def test_a_ddp_child_without_rank_zeros_word_joins_its_slurm_jobs_run_else_the_newest(root):
    """Under srun every rank starts on its own (no LIT_DL_RUN_DIR from rank zero): a rank other
    than zero joins the run its SLURM job marked, or the newest run rank zero just made."""
    (root / "quickstart" / "version_0" / "slurm_job").write_text("77:abc\n")
    request = RunRequest(typed("fit"), root, None, ["quickstart.yaml"])
    assert resolve_run(request, Environment(rank=1, slurm_job="77:abc")).run_dir == root / "quickstart" / "version_0"
    assert resolve_run(request, Environment(rank=1, slurm_job="78:abc")).run_dir == root / "quickstart" / "version_1"  # none marked
    assert resolve_run(request, Environment(rank=1)).run_dir == root / "quickstart" / "version_1"


def test_a_checkpoint_from_outside_any_run_is_evaluated_in_a_new_run_of_the_experiment(root):
    loose = root.parent / "downloaded.ckpt"
    loose.write_bytes(b"x")
    for command in ("test", "validate", "predict"):
        plan = resolve_run(RunRequest(typed(command), root, None, ["quickstart.yaml"], typed(str(loose))), Environment())
        assert (plan.experiment, plan.run_dir, plan.checkpoint, plan.new_run) == ("quickstart", root / "quickstart" / "version_2", loose, False)


def test_rank_zero_never_inherits_a_run_directory():
    """LIT_DL_RUN_DIR tells the processes rank zero starts which run is theirs; rank zero itself
    (a lit-dl started from inside another one's environment) makes its own."""
    assert Environment.read(typed("fit"), "", {"LIT_DL_RUN_DIR": "/r"}).inherited_run_dir is None
    assert Environment.read(typed("fit"), "", {"LIT_DL_RUN_DIR": "/r", "LOCAL_RANK": "1"}).inherited_run_dir == Path("/r")


def test_environment_reads_rank_and_slurm():
    env = {"SLURM_PROCID": "1", "SLURM_JOB_ID": "5", "SLURM_RESTART_COUNT": "2", "LIT_DL_RUN_DIR": "/r"}
    read = Environment.read(typed("fit"), "cfg", env)
    assert (read.rank, read.inherited_run_dir, read.slurm_restarted) == (1, Path("/r"), True)
    assert read.slurm_job.startswith("5:")
    assert Environment.read("test", "", {}).slurm_job is None


def test_resolving_writes_nothing(root):
    before = sorted(os.walk(root))
    resolve_run(RunRequest("fit", root, None, ["quickstart.yaml"]), Environment())
    assert sorted(os.walk(root)) == before
