"""The Dockerfile, built on a Debian stand-in for pytorch/pytorch (conftest.py), does what the
README's Docker section says: entry point lit-dl, user litdl, runs and data volumes, and with
`--user "$(id -u):$(id -g)" -e HOME=/tmp` the quickstart's run lands in the mounted folder, yours."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lit_dl.run.results import read_results

pytestmark = pytest.mark.container

# `$(id -u):$(id -g)` of a user who is neither root nor litdl and has no entry in the image's
# /etc/passwd, as a host user's would be (CI runs as root, whose id would prove nothing).
YOU = (4321, 4321)


def test_the_image_runs_lit_dl_as_litdl_with_runs_and_data_volumes(image):
    config = image.config
    assert config["Entrypoint"] == ["lit-dl"]
    assert config["User"] == "litdl"
    assert config["WorkingDir"] == "/workspace"
    assert set(config["Volumes"]) == {"/workspace/runs", "/workspace/data"}
    assert not [line for line in config["Env"] if "/host-pip" in line], "a build-time pip source ended up in the image"

    default = image.run(*config["Entrypoint"], *config["Cmd"])  # `docker run lit-dl`: its --help, as litdl
    assert default.returncode == 0, default.stderr[-2000:]
    assert "fit" in default.stdout
    assert image.run("id", "-un").stdout.strip() == "litdl"


def test_the_base_images_torch_is_kept(image):
    listed = image.run("python3", "-m", "pip", "list", "--format=freeze")
    assert listed.returncode == 0, listed.stderr[-2000:]
    installed = dict(line.split("==") for line in listed.stdout.splitlines() if "==" in line)
    assert {name: installed.get(name) for name in image.base_torch} == image.base_torch


def test_the_quickstart_trains_in_the_image_into_the_mounted_runs_folder_owned_by_you(image, tmp_path):
    volumes = {tmp_path / "runs": "/workspace/runs", tmp_path / "data": "/workspace/data"}
    for folder in volumes:
        folder.mkdir()
        os.chown(folder, *YOU)
    you = {"user": "{}:{}".format(*YOU), "env": {"HOME": "/tmp", "WANDB_MODE": "offline"}, "volumes": volumes}

    started = time.monotonic()
    fit = image.run(*image.config["Entrypoint"], "fit", "--config", "experiments/quickstart.yaml", **you)
    image.timings["quickstart in the image"] = f"{time.monotonic() - started:.0f} s"

    assert fit.returncode == 0, (fit.stdout + fit.stderr)[-3000:]
    run_dir = fit.stdout.strip().splitlines()[-1]  # runs/quickstart/version_0, relative to /workspace
    on_host = tmp_path / run_dir
    assert run_dir.startswith("runs/") and (on_host / "results.json").is_file(), fit.stdout[-2000:]
    owners = {(entry.stat().st_uid, entry.stat().st_gid) for entry in [tmp_path / "runs", *(tmp_path / "runs").rglob("*")]}
    assert owners == {YOU}
    results = read_results(on_host)
    assert results["status"] == "completed" and results["test"]["test/acc"] > 0.9, results
    check = image.run(*image.config["Entrypoint"], "check", run_dir, **you)  # and, on the host, every_run_is_whole
    assert check.returncode == 0 and check.stdout.strip() == f"ok {run_dir}", check.stdout + check.stderr[-2000:]
    assert not list(Path(tmp_path / "data").iterdir())
