"""Fixtures that keep the suite fast, offline and on CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports wandb or torch: no network, no accounts, one thread per test process.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART
from tests.helpers.typed import typed_args


@pytest.fixture
def lit_dl(capsys):
    """Run `lit-dl ARGS...` in this process; returns (exit code, stdout, stderr). The arguments are
    new string objects, as sys.argv's: code that compares them with `is` fails here too."""
    from lit_dl.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(typed_args(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def fit_quickstart(lit_dl, tmp_path):
    """Train the small quickstart under tmp_path; returns the run directory it printed last."""

    def fit(*overrides: str, root: Path | None = None) -> Path:
        code, out, err = lit_dl(
            "fit", "--config", QUICKSTART, "--trainer.default_root_dir", root or tmp_path / "runs",
            *SMALL_QUICKSTART, *overrides,
        )
        assert code == 0, err
        return Path(out.strip().splitlines()[-1])

    return fit


@pytest.fixture(scope="session")
def tiny_cifar10(tmp_path_factory) -> Path:
    """A data_dir holding a real-format cifar-10-batches-py/ of 5 x 20 training and 20 test images
    (wrong md5s: load it with verify_md5=False). Shared by the session: treat it as read-only."""
    from tests.helpers.cifar_files import write_cifar10

    return write_cifar10(tmp_path_factory.mktemp("cifar10"), images_per_batch=20, test_images=20)


@pytest.fixture
def write_npz(tmp_path):
    """Write keyword arrays to a fresh .npz under tmp_path; returns its path as a string."""
    count = iter(range(1_000_000))

    def write(**arrays) -> str:
        import numpy as np

        path = tmp_path / f"arrays_{next(count)}.npz"
        np.savez(path, **arrays)
        return str(path)

    return write


DISTRIBUTED_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "LIT_DL_RUN_DIR")


@pytest.fixture(autouse=True)
def no_process_group_left_behind():
    """A fit with a DDP strategy run inside this process (a preset test) leaves its process group,
    whose TCP store keeps listening on MASTER_PORT, and MASTER_PORT in the environment: a later
    test's DDP subprocesses would inherit that port and fail with EADDRINUSE."""
    saved = {name: os.environ.get(name) for name in DISTRIBUTED_VARIABLES}
    yield
    import sys

    distributed = sys.modules.get("torch.distributed")
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        distributed.destroy_process_group()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def every_run_is_whole(request):
    """After a test, every run directory it left under its tmp_path passes `lit-dl check`: the
    run's record is whole whatever the test did to it. A test that leaves a run broken on
    purpose (a kill without a resume, a corrupted file) says so with
    `@pytest.mark.broken_runs("why")`."""
    if "tmp_path" not in request.fixturenames or request.node.get_closest_marker("broken_runs"):
        yield
        return
    root = request.getfixturevalue("tmp_path")
    yield
    report = getattr(request.node, "outcome_call", None)
    if report is not None and report.failed:
        return  # the test's own failure says enough
    from lit_dl.cli.run_check import check_runs
    from lit_dl.run.layout import RESULTS_FILE, is_run_dir_name

    run_dirs = sorted({p.parent for p in root.rglob(RESULTS_FILE) if is_run_dir_name(p.parent.name)})
    broken = {run: problems for run, problems in check_runs(run_dirs).items() if problems}
    assert not broken, "runs this test left are not whole (lit-dl check):\n" + "\n".join(
        f"{run}: {problem}" for run, problems in broken.items() for problem in problems
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.outcome_call = report
    return report
