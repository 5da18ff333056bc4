"""Debian packages a test needs, installed with apt-get when missing (root only)."""

from __future__ import annotations

import os
import shutil
import subprocess


def install_missing(tools: tuple[str, ...], packages: list[str]) -> str | None:
    """None once every tool is on PATH (installing `packages` if needed); otherwise why not."""
    if all(shutil.which(tool) for tool in tools):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{' and '.join(packages)} are not installed, and installing them needs root and apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]):
        try:
            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            return f"{' '.join(args[:2])} took more than 10 minutes"
        if done.returncode != 0:
            return f"{' '.join(args[:2])} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    missing = [tool for tool in tools if not shutil.which(tool)]
    return f"still missing after installing {' and '.join(packages)}: {', '.join(missing)}" if missing else None
