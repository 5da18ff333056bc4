"""Real runs for tests that need one: `lit-dl fit` in this process, its output captured."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path


def lit_dl_in_process(argv: list[str]) -> tuple[int, str]:
    """`lit-dl ARGV` in this process; (exit code, stdout and stderr together)."""
    from lit_dl.cli import main

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main([str(word) for word in argv])
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    return code, out.getvalue()


def train(root: Path, config: str | Path, *flags: str) -> Path:
    """`lit-dl fit --config CONFIG FLAGS` into `root`; the run directory it printed last."""
    code, out = lit_dl_in_process(["fit", "--config", str(config), "--trainer.default_root_dir", str(root), *flags])
    assert code == 0, out
    return Path(out.strip().splitlines()[-1])
