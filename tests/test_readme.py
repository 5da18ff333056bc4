"""Everything the README and the experiment files tell a user to run, runs.

Each command runs, shortened (one epoch, a few dozen samples; CIFAR-10 from the tiny archive in
the real format), in a workspace that looks like the repository root (experiments/, scripts/) and
already holds one quickstart run. YAML blocks run as an experiment file, or added to the
quickstart when they are a fragment. A block the README marks `<!-- not-run: REASON -->` (a GPU,
sbatch, docker, this very suite) is checked as far as this machine allows: its config parses
(`--print_config`), its script and Dockerfile exist. Placeholders (`my_data.npz`, `DIR`,
`experiments/my_experiment.yaml`, `X`, `RUNS`, `PATH`, `NAME`) stand for real files and names here.
A flag the prose shows with a value (`--columns status,lr,test/acc`) runs with the lit-dl command
that has that flag. Python blocks run as scripts, like notebook
cells, in the workspace (whose quickstart run is also exported to ONNX).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.helpers.paths import REPO
from tests.helpers.documented import QUICKSTART, Snippet, header_commands, readme_snippets
from tests.helpers.recipes import tiny_data_flags, write_example_npz

README = REPO / "README.md"
SNIPPETS = readme_snippets(README) + header_commands(sorted((REPO / "experiments").rglob("*.yaml")), REPO)
CHECK_ONLY_PROGRAMS = {"pip", "pytest", "docker", "sbatch", "source", "scancel", "squeue", "scontrol"}
SHORT = ["--trainer.max_epochs", "1"]


def _is_slow(snippet: Snippet) -> bool:
    """Several processes (a sweep's trials, DDP on CPU, a grouped compare of the seeded sweep the
    README runs just before it), or an experiment file's own command (the default suite runs every
    experiment in tests/test_experiments.py and tests/experiments/)."""
    words = snippet.text.split()
    running = snippet.not_run is None and words[:1] == ["lit-dl"]
    several = running and (words[1] == "sweep" or re.search(r"--trainer\.devices [2-9]", snippet.text) is not None)
    several = several or (running and words[1] == "compare" and "--group" in words)  # reads the runs of the sweep before it
    return several or not snippet.where.startswith(README.name)


def _params(kind: str):
    for snippet in SNIPPETS:
        if snippet.kind == kind:
            yield pytest.param(snippet, id=str(snippet), marks=[pytest.mark.slow] if _is_slow(snippet) else [])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_cifar10) -> Path:
    """A directory like the repository root, with one finished quickstart run in it."""
    root = tmp_path_factory.mktemp("readme")
    for name in ("experiments", "scripts", "Dockerfile", "pyproject.toml"):
        (root / name).symlink_to(REPO / name)
    (root / "my_overrides.yaml").write_text("trainer:\n  max_epochs: 2\n")
    placeholders = {
        "my_data.npz": write_example_npz(root / "my_data.npz"),
        "DIR": str(tiny_cifar10),
        "experiments/my_experiment.yaml": QUICKSTART,
        "X": QUICKSTART,
        "RUNS": "runs/quickstart",
        "PATH": "runs/quickstart/version_0/checkpoints/last.ckpt",
        "NAME": "my_experiment",
    }
    (root / "placeholders.yaml").write_text(yaml.safe_dump(placeholders))
    code = _in_process(root, ["fit", "--config", QUICKSTART, *SHORT, *_tiny(root, "ToyClassificationDataModule")])[0]
    assert code == 0 and (root / "runs/quickstart/version_0/results.json").is_file()
    code, out = _in_process(root, ["export", "runs/quickstart/version_0", "--format", "onnx"])  # what the Python examples read
    assert code == 0, out
    return root


def _in_process(cwd: Path, argv: list[str]) -> tuple[int, str]:
    """`lit-dl ARGV` run in this process from `cwd`; (exit code, stdout and stderr)."""
    import contextlib
    import io

    from lit_dl.cli import main

    out = io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        os.chdir(previous)
    return code, out.getvalue()


def _in_subprocess(cwd: Path, argv: list[str]) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "lit_dl.cli", *argv], cwd=cwd, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def _with_placeholders(argv: list[str], workspace: Path) -> list[str]:
    placeholders = yaml.safe_load((workspace / "placeholders.yaml").read_text())
    return [placeholders.get(word, word) for word in argv]


# Two epochs of four batches: the fit stops after the first, its resume trains the second.
RESUMABLE = ["--trainer.max_epochs", "2", "--data.init_args.n_train", "256", "--data.init_args.n_val", "32", "--data.init_args.n_test", "32"]


def _workspace_with_an_unfinished_run(workspace: Path) -> Path:
    """A fresh workspace whose only quickstart run stopped after one of its two epochs."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="resume-", dir=workspace))
    for name in ("experiments", "scripts", "placeholders.yaml"):
        (root / name).symlink_to(workspace / name)
    stop = "--trainer.callbacks+=tests.helpers.callbacks.StopAfterFirstEpoch"
    code, out = _in_process(root, ["fit", "--config", QUICKSTART, *RESUMABLE, stop, "--test_after_fit", "false"])
    assert code == 0, out
    return root


def _tiny(workspace: Path, data_class: str) -> list[str]:
    placeholders = yaml.safe_load((workspace / "placeholders.yaml").read_text())
    return tiny_data_flags(data_class, placeholders["DIR"], placeholders["my_data.npz"])


def resolved_config(workspace: Path, argv: list[str]) -> dict:
    """The config `lit-dl SUBCOMMAND ...` would run with (its `--print_config`)."""
    code, out = _in_process(workspace, [*argv, "--print_config"])
    assert code == 0, out
    return yaml.safe_load(out)


def needs_a_gpu(config: dict) -> bool:
    import torch

    accelerator = str((config.get("trainer") or {}).get("accelerator"))
    return accelerator in ("gpu", "cuda") and not torch.cuda.is_available()


def run_lit_dl(workspace: Path, argv: list[str], documented: Snippet) -> None:
    """Run a documented `lit-dl ...` (without the program name) shortened; or check it parses."""
    argv = _with_placeholders(argv, workspace)
    subcommand = argv[0]
    if subcommand in ("fit", "validate", "test", "predict"):
        config = resolved_config(workspace, argv)
        if "--print_config" in argv:
            return
        if documented.not_run is None and needs_a_gpu(config):
            if documented.where.startswith(README.name):
                pytest.fail(f"{documented.where} needs a GPU: mark it <!-- not-run: needs a GPU -->")
            return  # an experiment file's GPU command: its config parses, nothing more here
        if documented.not_run is not None:
            return
        if subcommand == "fit" and "--ckpt_path" in argv:  # a resume needs a run with epochs left
            workspace = _workspace_with_an_unfinished_run(workspace)
            argv = [*argv, *RESUMABLE]
        else:
            argv = [*argv, *SHORT, *_tiny(workspace, config["data"]["class_path"].rsplit(".", 1)[-1])]
    elif documented.not_run is not None:  # a command that cannot run here: it exists, at least
        argv = [subcommand, "--help"]
    elif subcommand == "sweep":
        fit_flags = [*SHORT, *_tiny(workspace, "ToyClassificationDataModule")]
        argv = [*argv, *fit_flags] if "--" in argv else [*argv, "--", *fit_flags]
    several_processes = subcommand == "sweep" or _is_slow(documented)
    code, out = (_in_subprocess if several_processes else _in_process)(workspace, argv)
    assert code == 0, f"{documented}\n{shlex.join(argv)}\n{out[-3000:]}"


def check_without_running(workspace: Path, argv: list[str], documented: Snippet) -> None:
    """pip, pytest, docker, sbatch: what this machine can check of them."""
    program = argv[0]
    if program == "pip":
        extras = re.findall(r"\[([\w,-]+)\]", " ".join(argv))
        pyproject = (REPO / "pyproject.toml").read_text()
        for extra in (name for group in extras for name in group.split(",")):
            assert re.search(rf"^{extra} = \[", pyproject, re.MULTILINE), f"no extra '{extra}' in pyproject.toml"
    elif program == "docker" and argv[1] == "build":
        assert (workspace / argv[-1] / "Dockerfile").is_file()
    elif program == "docker" and argv[1] == "run":
        image_at = argv.index("lit-dl")  # the image's entry point is lit-dl: the rest is its arguments
        run_lit_dl(workspace, argv[image_at + 1 :], documented)
    elif program == "sbatch":
        script_at = next(i for i, word in enumerate(argv) if word.endswith(".sbatch"))
        script = workspace / argv[script_at]
        subprocess.run(["bash", "-n", str(script)], check=True)
        experiment, *flags = argv[script_at + 1 :]
        run_lit_dl(workspace, ["fit", "--config", experiment, *flags], documented)


@pytest.mark.parametrize("documented", _params("command"))
def test_documented_command_runs(documented: Snippet, workspace):
    argv = documented.argv
    program = argv[0]
    if program in CHECK_ONLY_PROGRAMS:
        assert documented.not_run, f"{documented.where}: `{program}` cannot run here; mark it <!-- not-run: why -->"
        check_without_running(workspace, argv, documented)
    elif program == "lit-dl":
        run_lit_dl(workspace, argv[1:], documented)
    elif program == "python":
        script = REPO / argv[1]
        if documented.not_run:
            compile(script.read_text(), str(script), "exec")
        else:
            subprocess.run([sys.executable, *argv[1:]], cwd=workspace, check=True, capture_output=True, timeout=120)
    else:
        pytest.fail(f"{documented.where}: the test does not know how to run `{program}`")


@pytest.mark.parametrize("documented", _params("yaml"))
def test_documented_yaml_runs(documented: Snippet, workspace, tmp_path):
    block = yaml.safe_load(documented.text)
    path = tmp_path / "readme_block.yaml"
    path.write_text(documented.text)
    # A whole experiment runs on its own; a fragment (a trainer section, say) on top of the quickstart.
    configs = [path] if {"model", "data"} <= set(block) else [QUICKSTART, path]
    argv = ["fit", *(word for config in configs for word in ("--config", str(config)))]
    run_lit_dl(workspace, argv, documented)


# Where a fragment of each command goes when the section around it shows none of that command.
FRAGMENT_BASES = {"compare": "lit-dl compare RUNS", "sweep": "lit-dl sweep experiments/sweeps/quickstart.yaml"}
EXPERIMENT_COMMANDS = ("fit", "lr-find", "validate", "test", "predict")


@cache
def lit_dl_flags(command: str) -> frozenset[str]:
    """The flags of `lit-dl COMMAND` (without dashes), read from its own parser or --help."""
    if command in FRAGMENT_BASES:
        from lit_dl.commands import compare, sweep

        parser = {"compare": compare, "sweep": sweep}[command].build_parser()
        return frozenset(option.lstrip("-") for action in parser._actions for option in action.option_strings)
    code, out = _in_process(REPO, [command, "--help"])
    assert code == 0, out
    return frozenset(re.findall(r"--([\w.]+)", out))


def fragment_command(fragment: Snippet) -> str | None:
    """The whole command a fragment belongs to: the section's last command when it has the
    fragment's flag, else the first command that has it (fit first); None when none has it."""
    flag = re.match(r"--([\w.]+)", fragment.text).group(1)
    parts = flag.split(".")
    context = shlex.split(fragment.context)[1] if fragment.context else None
    for command in dict.fromkeys([*([context] if context else []), *FRAGMENT_BASES, *EXPERIMENT_COMMANDS]):
        if not any(".".join(parts[:i]) in lit_dl_flags(command) for i in range(1, len(parts) + 1)):
            continue
        if command in FRAGMENT_BASES:
            shown = shlex.split(fragment.context) if command == context else shlex.split(FRAGMENT_BASES[command])
            base = shlex.join(shown[: next((i for i, word in enumerate(shown) if word.startswith("-")), len(shown))])
        else:
            checkpoint = " --ckpt_path best" if command in ("validate", "test", "predict") and "--ckpt_path" not in fragment.text else ""
            base = f"lit-dl {command} --config {QUICKSTART}{checkpoint}"
        return f"{base} {fragment.text}"
    return None


@pytest.mark.parametrize("documented", _params("fragment"))
def test_documented_fragment_runs(documented: Snippet, workspace):
    command = fragment_command(documented)
    if command is None:
        assert documented.not_run, f"{documented.where}: `{documented.text}` is no lit-dl flag; mark it <!-- not-run: whose flag it is -->"
        return
    if command in {snippet.text for snippet in SNIPPETS if snippet.kind == "command"}:
        return  # the README shows the whole command too, and it runs as such
    run_lit_dl(workspace, shlex.split(command)[1:], replace(documented, kind="command", text=command))


def test_the_plot_file_the_readme_names_is_the_one_written(workspace):
    """`--plot DIR/` writes the file the README says it does (the name holds the metric and --x)."""
    promises = re.findall(r"`(--plot \S+(?: --x \w+)?)` writes `([^`]+)`", " ".join(README.read_text().split()))
    assert promises, "the README says which file `--plot DIR/` writes"
    for flags, written in promises:
        code, out = _in_process(workspace, ["compare", "runs/quickstart", *flags.split()])
        assert code == 0 and (workspace / written).is_file(), out


@pytest.mark.parametrize("documented", _params("python"))
def test_documented_python_runs(documented: Snippet, workspace):
    assert documented.not_run is None, f"{documented.where}: a Python example must run here"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", documented.text], cwd=workspace, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{documented}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"


@pytest.mark.parametrize("documented", _params("transcript"))
def test_documented_transcript_matches(documented: Snippet, workspace):
    command, *expected = documented.text.splitlines()
    code, out = _in_process(workspace, shlex.split(command.removeprefix("$ "))[1:])
    assert out.strip().splitlines() == expected, out
    assert code == (2 if expected and expected[0].startswith("lit-dl: error:") else 0)


@pytest.mark.parametrize("documented", _params("listing"))
def test_documented_run_directory_exists(documented: Snippet, workspace):
    top, *entries = documented.text.splitlines()
    run_dir = workspace / top.strip()
    for entry in entries:
        if entry.startswith("   "):  # the line above goes on
            continue
        name, _, said = entry.strip().partition(" ")
        if said.strip().startswith("only while"):  # there while a process writes the run
            continue
        assert (run_dir / name).exists(), f"{documented.where}: {name} is not in a run directory"
        if name == "checkpoints/":
            for checkpoint in re.findall(r"\b(\w+\.ckpt)\b", entry):
                assert (run_dir / name / checkpoint).is_file(), checkpoint


def test_every_block_and_experiment_command_is_found():
    kinds = [snippet.kind for snippet in SNIPPETS]
    fenced = sum(line.startswith("```") for line in README.read_text().splitlines()) // 2
    assert len({(s.where, s.kind) for s in SNIPPETS if s.where.startswith(README.name) and s.kind != "command"}) >= 4
    assert kinds.count("command") >= 30 and fenced >= 10
    assert any(s.where.startswith("experiments/trainer/") for s in SNIPPETS)
