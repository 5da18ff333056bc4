"""Every way `lit-dl export` can be misused, or can find a model it cannot write, ends in one line
`lit-dl: error: ...` naming the fault and the fix, exit code 2, no traceback, and no file added or
changed: an export that fails its check leaves nothing behind.

Each case runs `lit-dl export` in this process on a copy of finished runs made once per module:
the quickstart, and one of a net of the user's own whose forward branches on its values
(`tests/helpers/nets.py`), which trains but which no exporter can trace.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.filesystems import read_only
from tests.helpers.paths import QUICKSTART
from tests.helpers.runs import lit_dl_in_process, train

SMALL = ["--trainer.max_epochs", "1", "--data.init_args.n_train", "128", "--data.init_args.n_val", "64",
         "--data.init_args.n_test", "64", "--test_after_fit", "false"]
RUN = "quickstart/version_0"
BRANCHING = "branching/version_0"
INSTALL = 'pip install "lit-dl[export]"'


@dataclass
class Fixtures:
    """What a case's setup may use: the test's monkeypatch, and a stack its mounts unwind on."""

    monkeypatch: pytest.MonkeyPatch
    stack: contextlib.ExitStack


@dataclass
class Case:
    id: str
    argv: Callable[[Path], list[str]]  # from the folder holding runs/
    names: list[str]  # fragments the error line must hold
    setup: Callable[[Path, Fixtures], None] | None = None


def export(run: str, *flags: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["export", str(tmp / "runs" / run), *flags]


def run_without_checkpoints(tmp: Path, fixtures: Fixtures) -> None:
    """version_1: a run killed before its first checkpoint (its config.yaml and nothing else)."""
    (tmp / "runs/quickstart/version_1").mkdir()
    shutil.copy(tmp / "runs" / RUN / "config.yaml", tmp / "runs/quickstart/version_1/config.yaml")


def truncated_best(tmp: Path, fixtures: Fixtures) -> None:
    best = tmp / "runs" / RUN / "checkpoints/best.ckpt"
    best.write_bytes(best.read_bytes()[:2000])


def loose_checkpoint(tmp: Path, fixtures: Fixtures) -> None:
    shutil.copy(tmp / "runs" / RUN / "checkpoints/best.ckpt", tmp / "loose.ckpt")


def without(*modules: str) -> Callable[[Path, Fixtures], None]:
    """The library not installed. Faked: `None` in sys.modules makes its import fail as a missing
    package's does; uninstalling it from this test environment is not an option."""
    def setup(tmp: Path, fixtures: Fixtures) -> None:
        for module in modules:
            fixtures.monkeypatch.setitem(sys.modules, module, None)
    return setup


def read_only_folder(tmp: Path, fixtures: Fixtures) -> None:
    (tmp / "shared").mkdir()
    fixtures.stack.enter_context(read_only(tmp / "shared"))

CASES = [
    Case("unknown format", export(RUN, "--format", "tflite"), ["format", "tflite", "onnx", "torch-export", "safetensors"]),
    Case("no format", export(RUN), ["format"]),
    Case("unknown checkpoint choice", export(RUN, "--format", "onnx", "--checkpoint", "middle"), ["checkpoint", "middle", "best"]),
    Case("run without checkpoints", export("quickstart/version_1", "--format", "onnx"), ["version_1", "no best checkpoint", "lit-dl fit"],
         setup=run_without_checkpoints),
    Case("an experiment folder, not a run", export("quickstart", "--format", "onnx"), ["holds runs", "version_0"]),
    Case("a folder that is no run", lambda tmp: ["export", str(tmp), "--format", "onnx"], ["no config.yaml", "version_<n>"]),
    Case("a path that does not exist", export("quickstart/version_9", "--format", "onnx"), ["version_9", "does not exist"]),
    Case("checkpoint file and --checkpoint", export(f"{RUN}/checkpoints/best.ckpt", "--format", "onnx", "--checkpoint", "last"),
         ["--checkpoint", "best.ckpt", "drop --checkpoint"]),
    Case("checkpoint outside a run", lambda tmp: ["export", str(tmp / "loose.ckpt"), "--format", "onnx"],
         ["loose.ckpt", "run directory"], setup=loose_checkpoint),
    Case("truncated checkpoint", export(RUN, "--format", "safetensors"), ["best.ckpt", "truncated"], setup=truncated_best),
    Case("onnxruntime missing", export(RUN, "--format", "onnx"), ["onnxruntime", "not installed", INSTALL],
         setup=without("onnxruntime")),
    Case("onnx and onnxscript missing", export(RUN, "--format", "onnx"), ["onnx and onnxscript", "are not installed", INSTALL],
         setup=without("onnx", "onnxscript")),
    Case("safetensors missing", export(RUN, "--format", "safetensors"), ["safetensors", INSTALL], setup=without("safetensors")),
    Case("net no exporter can trace (onnx)", export(BRANCHING, "--format", "onnx"),
         ["BranchOnValues cannot be exported to onnx", "another --format"]),
    Case("net no exporter can trace (torch-export)", export(BRANCHING, "--format", "torch-export"),
         ["BranchOnValues cannot be exported to torch-export", "safetensors"]),
    # The quickstart's ONNX file differs from PyTorch by about 1e-7: no difference at all is asked for.
    Case("difference above the tolerance", export(RUN, "--format", "onnx", "--tolerance", "0"),
         ["onnx file differs from the trained model", "(tolerance 0)", "nothing was written"]),
    Case("negative tolerance", export(RUN, "--format", "onnx", "--tolerance", "-1"), ["--tolerance", "-1"]),
    Case("word for the tolerance", export(RUN, "--format", "onnx", "--tolerance", "tiny"), ["tolerance", "tiny"]),
    Case("out into a read-only folder", export(RUN, "--format", "torch-export", "--out", "shared/model.pt2"),
         ["read-only"], setup=read_only_folder),
]


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("finished") / "runs"
    train(root, QUICKSTART, *SMALL)
    branching = tmp_path_factory.mktemp("branching") / "branching.yaml"
    branching.write_text("model:\n  init_args:\n    net:\n      class_path: tests.helpers.nets.BranchOnValues\n")
    train(root, QUICKSTART, "--config", str(branching), "--name", "branching", *SMALL)
    return root


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_export_mistake_ends_in_one_line_and_changes_nothing(case: Case, finished_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIT_DL_DEBUG", raising=False)
    shutil.copytree(finished_runs, tmp_path / "runs")
    with contextlib.ExitStack() as stack:
        if case.setup:
            case.setup(tmp_path, Fixtures(monkeypatch, stack))
        before = snapshot(tmp_path)
        code, out = lit_dl_in_process(case.argv(tmp_path))
        after = snapshot(tmp_path)
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("lit-dl: error: "), out
    assert "Traceback" not in out
    for name in case.names:
        assert name in lines[0], lines[0]
    assert before == after, sorted(set(before.items()) ^ set(after.items()))

