"""StopOnSignal's decision when signals come together: a requeue request wins over a plain stop."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART


def test_sigterm_then_sigusr1_stops_once_and_asks_for_a_requeue(lit_dl, tmp_path, monkeypatch):
    """SLURM is faked here: no cluster runs in the default suite, and what is tested is the
    callback's decision, so `requeue_slurm_job` (which would call `scontrol requeue`) is replaced
    by a recorder. The real requeue runs in tests/cluster (pytest -m slurm)."""
    import lit_dl.training.signals as signals

    requeues = []
    monkeypatch.setattr(signals, "requeue_slurm_job", lambda: requeues.append(os.getpid()))
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    try:
        code, out, err = lit_dl(
            "fit", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *SMALL_QUICKSTART,
            "--test_after_fit", "false", "--trainer.callbacks+=tests.helpers.callbacks.TermThenUsr1",
        )
    finally:
        for signum, handler in handlers.items():  # a stopped fit keeps ignoring SIGTERM and SIGUSR1
            signal.signal(signum, handler)
    assert code == 128 + signal.SIGUSR1, err
    assert requeues == [os.getpid()]
    assert "stopped by SIGUSR1 at step 2" in err
    last = Path(tmp_path) / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file()
