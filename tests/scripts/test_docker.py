"""What the Dockerfile promises without a build (tests/container builds it): its default base's torch
meets pyproject's floor, and scripts/docker/keep_torch.py, which the build runs on the base's Python,
keeps a base's torch, refuses one older than the floor in one line, and leaves a base without torch
to pip."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version

from tests.helpers.paths import REPO

KEEP_TORCH = REPO / "scripts" / "docker" / "keep_torch.py"


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.match(r"\d+(?:\.\d+)*", text)[0].split("."))


def _keep_torch(pyproject, *python_flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *python_flags, KEEP_TORCH, pyproject], capture_output=True, text=True, timeout=60)


def test_the_default_base_ships_a_torch_that_meets_the_floor():
    base = re.search(r"^ARG BASE=pytorch/pytorch:([\d.]+)-", (REPO / "Dockerfile").read_text(), re.MULTILINE)[1]
    floor = re.search(r'"torch>=([\d.]+)"', (REPO / "pyproject.toml").read_text())[1]
    assert _release(base) >= _release(floor)


def test_the_base_images_torch_and_torchvision_are_pinned():
    kept = _keep_torch(REPO / "pyproject.toml")
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.split() == [f"torch=={version('torch')}", f"torchvision=={version('torchvision')}"]


def test_a_torch_older_than_the_floor_stops_the_build_in_one_line(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('dependencies = ["torch>=99.1", "torchvision>=0.29"]\n')
    refused = _keep_torch(pyproject)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"the base image has torch {version('torch')}, older than lit-dl's floor torch>=99.1; build on a newer base: --build-arg BASE=..."
    )


def test_a_base_without_torch_pins_nothing():
    bare = _keep_torch(REPO / "pyproject.toml", "-S", "-I")  # no site-packages: no torch
    assert bare.returncode == 0 and bare.stdout.strip() == "", bare.stderr
