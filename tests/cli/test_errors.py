"""Bad input: one clear line, exit code 2, no traceback, and nothing of an earlier run lost."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers.paths import EXPERIMENTS, QUICKSTART, SMALL_QUICKSTART

SMALL = [*SMALL_QUICKSTART, "--trainer.max_epochs", "1", "--test_after_fit", "false"]


def quick(*extra) -> list[str]:
    """The small quickstart with `extra` flags."""
    return ["--config", str(QUICKSTART), *SMALL, *extra]


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory) -> Path:
    """A root holding one finished quickstart run (version_0), to copy into each case."""
    from lit_dl.cli import main

    root = tmp_path_factory.mktemp("trained") / "runs"
    main(["fit", *quick("--trainer.default_root_dir", str(root))])
    assert (root / "quickstart" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root with its content hash, and every folder."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def npz(path: Path, **arrays) -> str:
    import numpy as np

    np.savez(path, **arrays)
    return str(path)


def truncated(source: Path, path: Path) -> str:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


LAST = "quickstart/version_0/checkpoints/last.ckpt"

# (id, arguments after `fit` given (tmp_path, root), fragments the one error line must hold)
CASES = [
    (
        "missing config file",
        lambda tmp, root: ["--config", str(tmp / "nope.yaml")],
        ["config file not found", "nope.yaml"],
    ),
    (
        "YAML syntax error",
        lambda tmp, root: [*quick(), "--config", write(tmp / "broken.yaml", "trainer:\n  max_epochs: 2\n  callbacks: [a, b\nmodel: {}\n")],
        ["YAML syntax error", "broken.yaml", "line 4", "opened at line 3"],
    ),
    (
        "unknown key",
        lambda tmp, root: [*quick(), "--trainer.max_epocs", "3"],
        ["unknown option 'trainer.max_epocs'", "did you mean 'trainer.max_epochs'?"],
    ),
    (
        "unknown key in a config file",
        lambda tmp, root: [*quick(), "--config", write(tmp / "typo.yaml", "trainer:\n  max_epocs: 3\n")],
        ["max_epocs", "max_epochs"],
    ),
    (
        "wrong type",
        lambda tmp, root: [*quick(), "--trainer.max_epochs", "three"],
        ["trainer.max_epochs: expected int, got 'three'"],
    ),
    (
        "wrong type of a net argument",
        lambda tmp, root: [*quick(), "--data.init_args.batch_size", "big"],
        ["data.batch_size: expected int, got 'big'"],
    ),
    (
        "unknown class path",
        lambda tmp, root: [*quick(), "--model.init_args.net.class_path", "lit_dl.nets.MLPP"],
        ["unknown class path 'lit_dl.nets.MLPP'", "did you mean 'lit_dl.nets.MLP'?"],
    ),
    (
        "unknown optimizer class",
        lambda tmp, root: [*quick(), "--model.init_args.optimizer.class_path", "torch.optim.Adamw"],
        ["unknown class path 'torch.optim.Adamw'", "did you mean 'torch.optim.AdamW'?"],
    ),
    (
        "missing dataset offline",
        lambda tmp, root: [
            "--config", str(EXPERIMENTS / "cnn_cifar10.yaml"),
            "--data.init_args.data_dir", str(tmp / "no_data"), "--data.init_args.download", "false",
        ],
        ["CIFAR-10 not found", "no_data"],
    ),
    (
        "data file with missing keys",
        lambda tmp, root: [
            "--config", str(EXPERIMENTS / "arrays_mlp.yaml"),
            "--data.init_args.path", npz(tmp / "partial.npz", x_train=torch.zeros(8, 3).numpy(), y_train=torch.zeros(8).long().numpy()),
        ],
        ["partial.npz lacks x_test, y_test"],
    ),
    (
        "missing checkpoint",
        lambda tmp, root: [*quick(), "--ckpt_path", str(tmp / "gone.ckpt")],
        ["checkpoint not found", "gone.ckpt"],
    ),
    (
        "no run to continue",
        lambda tmp, root: [*quick(), "--name", "never_trained", "--ckpt_path", "last"],
        ["no run of 'never_trained'", "train one first"],
    ),
    (
        "truncated checkpoint",
        lambda tmp, root: [*quick(), "--ckpt_path", truncated(root / LAST, tmp / "cut.ckpt")],
        ["checkpoint", "cut.ckpt", "cannot be read", "truncated"],
    ),
    (
        "not a checkpoint",
        lambda tmp, root: [*quick(), "--ckpt_path", write(tmp / "notes.ckpt", "not a checkpoint\n")],
        ["notes.ckpt", "cannot be read"],
    ),
    (
        "checkpoint of another architecture",
        lambda tmp, root: [*quick(), "--ckpt_path", str(root / LAST), "--model.init_args.net.init_args.hidden_dims", "[16]"],
        ["saved from another architecture", "net.features.0.weight [64, 2] vs [16, 2]", "config.yaml"],
    ),
    (
        "more devices than the machine has",
        lambda tmp, root: [*quick(), "--trainer.accelerator", "cpu", "--trainer.devices", "4096"],
        ["--trainer.devices asks for 4096 devices", "CPU cores"],
    ),
    (
        "GPUs on a machine without enough",
        lambda tmp, root: [*quick(), "--trainer.accelerator", "gpu", "--trainer.devices", str(torch.cuda.device_count() + 1)],
        ["--trainer.devices asks for", "GPUs"],
    ),
    (
        "trainer flags that cannot work",
        lambda tmp, root: [*quick(), "--trainer.strategy", "no_such_strategy"],
        ["trainer:", "no_such_strategy"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_loses_nothing(case, lit_dl, trained_root, tmp_path):
    _, arguments, fragments = case
    root = tmp_path / "runs"
    shutil.copytree(trained_root, root)
    before = snapshot(root)

    code, out, err = lit_dl("fit", *arguments(tmp_path, root), "--trainer.default_root_dir", root)

    assert code == 2, err
    assert "Traceback" not in err + out
    errors = [line for line in err.splitlines() if line.startswith("lit-dl: error:")]
    assert len(errors) == 1, err
    assert err.strip().splitlines()[-1] == errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    # The earlier run is byte for byte as it was, and the failed start left no run directory.
    assert snapshot(root) == before


def test_debug_mode_shows_the_traceback(lit_dl, monkeypatch, tmp_path):
    from lit_dl.errors import UserError

    monkeypatch.setenv("LIT_DL_DEBUG", "1")
    with pytest.raises(UserError, match="config file not found"):
        lit_dl("fit", "--config", tmp_path / "nope.yaml")


def test_a_new_run_never_touches_the_runs_already_there(lit_dl, trained_root, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(trained_root, root)
    before = snapshot(root / "quickstart" / "version_0")

    code, out, err = lit_dl("fit", *quick(), "--trainer.default_root_dir", root)

    assert code == 0, err
    assert Path(out.strip().splitlines()[-1]) == root / "quickstart" / "version_1"
    assert snapshot(root / "quickstart" / "version_0") == before


def test_trainer_setup_files_are_valid(lit_dl):
    for setup in sorted((EXPERIMENTS / "trainer").glob("*.yaml")):
        code, out, err = lit_dl("fit", "--config", QUICKSTART, "--config", setup, "--print_config")
        assert code == 0, f"{setup.name}: {err}"
        assert "trainer:" in out


def test_a_user_error_reached_only_through_the_context_is_one_line(monkeypatch, capsys):
    """An error raised while handling a UserError (no `from`): the chain walk follows __context__
    as well as __cause__, as jsonargparse and Lightning re-raise both ways."""
    import lit_dl.cli
    from lit_dl.errors import UserError

    def failing(argv=None):
        try:
            raise UserError("sample 17 is broken; fix the data file")
        except UserError:
            raise RuntimeError("while loading the data")  # noqa: B904  (the point: no `from`)

    monkeypatch.setattr(lit_dl.cli, "run", failing)
    monkeypatch.delenv("LIT_DL_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stop:
        lit_dl.cli.main(["fit"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "lit-dl: error: sample 17 is broken; fix the data file\n"
