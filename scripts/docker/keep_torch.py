"""pip constraints that keep the base image's torch; the Dockerfile runs it before installing lit-dl.

A base image such as pytorch/pytorch ships torch (and torchvision) built for its CUDA. Left alone,
pip may swap them for other builds from the index while installing lit-dl, for instance to pair
torch with the newest torchvision. This prints `name==version` for each one the base has, so pip
keeps it. One older than lit-dl's floor in pyproject.toml stops the build with one line (pinning it
would only end in pip's ResolutionImpossible); a base without torch prints nothing and pip installs
one. Standard library only: it runs on the base's Python before anything is installed.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

KEPT = ("torch", "torchvision")


def _release(text: str) -> tuple[int, ...]:
    """2.14.1+cu130 -> (2, 14, 1): enough to compare with a `>=` floor."""
    return tuple(int(part) for part in re.match(r"\d+(?:\.\d+)*", text)[0].split("."))


def constraints(pyproject: Path) -> list[str]:
    text = pyproject.read_text()
    kept = []
    for name in KEPT:
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        floor = re.search(rf'"{name}>=([\d.]+)', text)
        if floor and _release(installed) < _release(floor[1]):
            sys.exit(
                f"the base image has {name} {installed}, older than lit-dl's floor {name}>={floor[1]};"
                f" build on a newer base: --build-arg BASE=..."
            )
        kept.append(f"{name}=={installed}")
    return kept


if __name__ == "__main__":
    print("\n".join(constraints(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))
