"""Our Dockerfile, built and run for real without a Docker daemon or Docker Hub: the tests marked
`container` (`pytest -m container`; CI runs them as a step of their own: about 12.5 minutes
cold, 9 with the cached base, on 2 cores busy with other work).

`image` (one per session; root needed, and apt-get installs debootstrap and buildah when missing):
1. A Debian base from `debootstrap --variant=minbase --include=python3,python3-pip bookworm`
   (Debian 12's python3 is 3.11, the Python of this machine's cp311 torch wheels), without apt's
   caches and without Debian's PEP 668 marker: the Python of a python or pytorch image takes pip
   installs, Debian's refuses them. Its root file system is cached as a .tar.gz under
   $LIT_DL_CONTAINER_CACHE (default ~/.cache/lit-dl/container), named by a hash of release,
   variant, packages, mirror and architecture: a CI that keeps that folder skips debootstrap
   (45-105 s here); an entry for another key is deleted. Delete the folder to refresh the base.
2. The stand-in for pytorch/pytorch: that base plus the torch and torchvision versions installed
   here, pip-installed from the sources this machine's pip is configured with. Building on it
   exercises the Dockerfile's main path: keep the base image's torch.
3. Our Dockerfile, built by Debian's buildah (`bud --isolation chroot --storage-driver vfs`) with
   `--build-arg BASE=` that image. pip reaches this machine's sources through the Dockerfile's
   PIP_* build args (index-url, extra-index-url, find-links, cert from `pip config list`), local
   paths mounted read-only under /host-pip: nothing of this machine ends up in the Dockerfile.
4. One working container of it (`buildah from`), which the tests run commands in.

Everything buildah writes lives in a scratch ext4 file system in one sparse file, loop-mounted
(a plain folder where mounting is not allowed): vfs copies every layer whole (17.4 GB at the
peak) and deleting that many files one by one took minutes on this machine's disk (4 min 52 s for
a 6.4 GB, 87k-file tree), while unmounting and deleting the one file takes about 12 s.

buildah 1.28's `run` mounts its own copies of the image's VOLUMEs over a `--volume` at the same
path (docker and podman mount yours): the working container's config drops them first, and the
tests mount the host folders exactly where the image declares its volumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.helpers.apt import install_missing
from tests.helpers.paths import REPO

RELEASE = "bookworm"
PACKAGES = ("python3", "python3-pip")
MIRROR = "http://deb.debian.org/debian"
BASE = "localhost/lit-dl-test-base:latest"
IMAGE = "localhost/lit-dl-test:latest"
FREE_GB_NEEDED = 25
PIP_SETTINGS = ("index-url", "extra-index-url", "find-links", "cert")
TIMINGS: dict[str, str] = {}  # what each step took, shown at the end of the session


class Buildah:
    """buildah with a private vfs storage under `root`, chroot isolation."""

    def __init__(self, root: Path) -> None:
        self.storage = ["--root", str(root / "storage"), "--runroot", str(root / "runroot"), "--storage-driver", "vfs"]

    def __call__(self, *args: str | Path, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["buildah", *self.storage, *map(str, args)], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if check and done.returncode != 0:
            raise AssertionError(f"buildah {args[0]} exited {done.returncode}:\n{(done.stdout + done.stderr)[-4000:]}")
        return done

    def run(self, container: str, *command: str, options: list[str] = (), timeout: float = 900) -> subprocess.CompletedProcess:
        return self("run", "--isolation", "chroot", *options, container, "--", *command, timeout=timeout, check=False)


@dataclass
class PipSources:
    """This machine's pip sources as a build sees them: PIP_* values and read-only mounts."""

    env: dict[str, str] = field(default_factory=dict)
    mounts: set[Path] = field(default_factory=set)

    @property
    def volumes(self) -> list[str]:
        return [f"--volume={path}:/host-pip{path}:ro" for path in sorted(self.mounts)]

    @property
    def build_args(self) -> list[str]:
        return [f"--build-arg={name}={value}" for name, value in self.env.items()]


def host_pip_sources() -> PipSources:
    """`pip config list` (its environment entries win), local paths moved under /host-pip. A
    file:// index is mounted with its parent folder: simple-index pages link to ../../files/."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60).stdout
    settings = {key: value for _scope, key, value in sorted(
        re.findall(r"^(:env:|[\w-]+)\.([\w-]+)='(.*)'$", listed, re.MULTILINE), key=lambda s: s[0] == ":env:")}
    sources = PipSources()
    for key in PIP_SETTINGS:
        items = []
        for item in settings.get(key, "").split():
            path = urlparse(item).path if item.startswith("file:") else item if item.startswith("/") else None
            if path is not None and Path(path).exists():
                sources.mounts.add(Path(path).parent if key.endswith("index-url") else Path(path))
                item = item.replace(path, f"/host-pip{path}", 1)
            items.append(item)
        if items:
            sources.env[f"PIP_{key.upper().replace('-', '_')}"] = " ".join(items)
    return sources


@dataclass
class Image:
    """Our image, built; `run` runs a command in its one working container."""

    buildah: Buildah
    container: str
    config: dict
    base_torch: dict[str, str]
    timings: dict[str, str]

    def run(self, *command: str, user: str | None = None, env: dict[str, str] | None = None,
            volumes: dict[Path, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
        options = ["--user", user] if user else []
        options += [f"--env={name}={value}" for name, value in (env or {}).items()]
        options += [f"--volume={host}:{inside}" for host, inside in (volumes or {}).items()]
        return self.buildah.run(self.container, *command, options=options, timeout=timeout)


def _timed(timings: dict[str, str], what: str, step, *args, **kwargs):
    started = time.monotonic()
    result = step(*args, **kwargs)
    timings[what] = f"{time.monotonic() - started:.0f} s"
    return result


def _command(args: list[str], timeout: float) -> str | None:
    """None when `args` succeeds, else its last lines."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except OSError as error:  # not installed
        return str(error)
    return None if done.returncode == 0 else f"{args[0]} exited {done.returncode}: {(done.stdout + done.stderr)[-1500:]}"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lit-dl" / "container"
    return Path(os.environ.get("LIT_DL_CONTAINER_CACHE") or default)


def debian_rootfs(scratch: Path, timings: dict[str, str]) -> Path:
    """The base's root file system as a .tar.gz: the cached one, or made now and cached."""
    recipe = f"debootstrap --variant=minbase --include={','.join(PACKAGES)} {RELEASE} {MIRROR} ({platform.machine()});" \
        " no apt caches, no EXTERNALLY-MANAGED"
    cached = cache_dir() / f"debian-{RELEASE}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}.tar.gz"
    if cached.is_file():
        timings["debootstrap"] = f"cached ({cached})"
        return cached
    rootfs = scratch / "rootfs"
    args = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", RELEASE, str(rootfs), MIRROR]
    failed = _timed(timings, "debootstrap", _command, args, timeout=900)
    if failed:
        pytest.skip(f"no Debian base: {failed}")
    for leftover in [*rootfs.glob("var/cache/apt/archives/*.deb"), *rootfs.glob("var/lib/apt/lists/*_*"),
                     *rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED")]:
        leftover.unlink()
    cached.parent.mkdir(parents=True, exist_ok=True)
    for stale in cached.parent.glob("debian-*.tar.gz"):
        stale.unlink()
    partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
    assert _command(["tar", "--numeric-owner", "-I", "gzip -1", "-C", str(rootfs), "-cf", str(partial), "."], 300) is None
    partial.replace(cached)
    shutil.rmtree(rootfs)
    return cached


@contextmanager
def scratch_filesystem(size_gb: int = 40):
    """A folder on a fresh ext4 file system in one sparse file under $LIT_DL_CONTAINER_TMP
    (default /var/tmp), or a plain folder there where loop mounts are not allowed; gone after."""
    parent = Path(os.environ.get("LIT_DL_CONTAINER_TMP") or "/var/tmp")
    free_gb = shutil.disk_usage(parent).free / 2**30
    if free_gb < FREE_GB_NEEDED:
        pytest.skip(f"{free_gb:.0f} GB free under {parent}; building the image takes {FREE_GB_NEEDED} GB (vfs copies every layer whole): set LIT_DL_CONTAINER_TMP to a roomier folder")
    folder = Path(tempfile.mkdtemp(prefix="lit-dl-container-", dir=parent))
    disk, mount = folder / "scratch.ext4", folder / "mnt"
    mount.mkdir()
    mounted = False
    try:
        with disk.open("wb") as sparse:
            sparse.truncate(size_gb * 2**30)
        made = _command(["mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1", str(disk)], 120)
        mounted = made is None and _command(["mount", "-o", "loop", str(disk), str(mount)], 60) is None
        yield mount
    finally:
        if mounted and _command(["umount", str(mount)], 300):
            _command(["umount", "--lazy", str(mount)], 60)
        shutil.rmtree(folder, ignore_errors=True)


def torch_base(buildah: Buildah, rootfs: Path, pip: PipSources, timings: dict[str, str]) -> dict[str, str]:
    """BASE: the Debian base plus the torch and torchvision installed here; returns their versions."""
    kept = {name: version(name) for name in ("torch", "torchvision")}
    container = buildah("from", "scratch").stdout.strip()
    buildah("add", container, rootfs, "/")
    options = pip.volumes + [f"--env={name}={value}" for name, value in pip.env.items()]
    install = ["python3", "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", *(f"{n}=={v}" for n, v in kept.items())]
    done = _timed(timings, "base: pip install torch", buildah.run, container, *install, options=options)
    if done.returncode != 0:
        pytest.skip(f"no torch {kept['torch']} for the base image's Python: {(done.stdout + done.stderr)[-1500:]}")
    _timed(timings, "base: commit", buildah, "commit", "--rm", container, BASE)
    return kept


def build(buildah: Buildah, pip: PipSources, timings: dict[str, str]) -> dict:
    """Our Dockerfile on BASE, as IMAGE; returns the image's config."""
    _timed(timings, "build", buildah, "bud", "--isolation", "chroot", f"--build-arg=BASE={BASE}", *pip.build_args, *pip.volumes,
           "--tag", IMAGE, "--file", REPO / "Dockerfile", REPO, timeout=1800)
    timings["image size"] = json.loads(buildah("images", "--json", IMAGE).stdout)[0]["size"]
    return json.loads(buildah("inspect", "--type", "image", IMAGE).stdout)["OCIv1"]["config"]


@pytest.fixture(scope="session")
def image():
    if os.geteuid() != 0:
        pytest.skip("building the image needs root (debootstrap, buildah's chroot isolation, a loop mount)")
    timings = TIMINGS
    reason = _timed(timings, "tools", install_missing, ("debootstrap", "buildah"), ["debootstrap", "buildah", "debian-archive-keyring"])
    if reason:
        pytest.skip(f"cannot build the image: {reason}")
    with scratch_filesystem() as scratch:
        buildah, pip = Buildah(scratch), host_pip_sources()
        rootfs = debian_rootfs(scratch, timings)
        base_torch = torch_base(buildah, rootfs, pip, timings)
        config = build(buildah, pip, timings)
        container = _timed(timings, "from", buildah, "from", "--name", "lit-dl-test-run", IMAGE).stdout.strip()
        timings["scratch used"] = f"{shutil.disk_usage(scratch).used / 2**30:.1f} GB"
        buildah("config", *(f"--volume={volume}-" for volume in config.get("Volumes") or {}), container)
        yield Image(buildah, container, config, base_torch, timings)
        leaving = time.monotonic()
    timings["cleanup"] = f"{time.monotonic() - leaving:.0f} s"


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line("container: " + ", ".join(f"{what} {took}" for what, took in TIMINGS.items()))
