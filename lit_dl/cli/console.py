"""What `lit-dl` prints, and what it keeps Lightning and its dependencies from printing.

A fit starts with lit-dl's own few lines (see lit_dl.training.summary); the messages below say
nothing to a lit-dl user and are silenced here, each by its message at its source, through public
means only: warning filters and the levels of Lightning's loggers. `LIT_DL_DEBUG=1` keeps them all.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
import warnings
from collections.abc import Iterator

from jsonargparse import DefaultHelpFormatter

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
# As the user had it: `import lightning` overwrites it (see lit_dl.training.speed.restore_cuda_check);
# lit_dl.cli imports this module before anything imports Lightning.
USER_NVML_CUDA_CHECK = os.environ.get(NVML_CHECK)

# (message, module it is attributed to) of warnings that tell a lit-dl user nothing.
QUIET_WARNINGS = (
    # lit-dl's tasks move their batches themselves (channels-last images), on purpose.
    (r"You have overridden `transfer_batch_to_device` in `LightningModule`", r"lightning\."),
    # Lightning's own use of a torch API that torch deprecated: Lightning's to fix, not the user's.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"lightning\."),
    # A resumed run writes into its own checkpoint directory, which of course holds checkpoints.
    (r"Checkpoint directory .* exists and is not empty", r"lightning\."),
    # Lightning's model summary is off unless asked for; lit-dl prints the parameter count.
    (r"Precision .* is not supported by the model summary", r"lightning\."),
)
# Lightning's hint on any machine where `srun` is installed, SLURM job or not.
SRUN_HINT = (r"The `srun` command is available on your system but is not used", r"lightning\.")
# Lightning's INFO lines before and after a fit: "GPU available: False, used: False", "TPU
# available", the "💡 Tip" advert, "Seed set to", "Loading `train_dataloader` to estimate",
# "`Trainer.fit` stopped", "Restoring states from"; and "Received SIGTERM" after a Ctrl-C, which
# lit-dl's own stop message replaces. Their warnings (logged at WARNING) still show.
QUIET_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.fabric.utilities.seed",
    "lightning.pytorch.trainer.connectors.signal_connector",
    # "`weights_only` was not set, defaulting to `False`." on every checkpoint lit-dl loads
    "lightning.pytorch.trainer.connectors.checkpoint_connector",
    # "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" from every rank, and the
    # "distributed_backend=gloo / All distributed processes registered" banner: the summary's
    # `device:` line says how many processes train.
    "lightning.fabric.utilities.distributed",
)


def quiet_dependencies() -> None:
    """Install the filters above (before Lightning is imported and for the rest of the process)."""
    if os.environ.get("LIT_DL_DEBUG") == "1":
        return
    quiet = list(QUIET_WARNINGS)
    if not os.environ.get("SLURM_JOB_ID"):  # inside an allocation the hint may be news
        quiet.append(SRUN_HINT)
    for message, module in quiet:
        warnings.filterwarnings("ignore", message=message, module=module)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


# Lightning's chatter while a command is set up (`Seed set to N`, `GPU available: ...`).
LIGHTNING_LOGGERS = ["lightning.fabric", "lightning.pytorch", "lightning"]


class HeldBack:
    """Holds Lightning's log records and Python's warnings back until `release()` (then they
    are shown) or `drop()` (an error ends the command: it comes alone)."""

    def __init__(self, loggers: list[str] = LIGHTNING_LOGGERS) -> None:
        self.handlers = [handler for name in loggers for handler in logging.getLogger(name).handlers]
        self.records: list[tuple[logging.Handler, logging.LogRecord]] = []
        for handler in self.handlers:
            handler.addFilter(_Holding(self, handler))
        self.catching: warnings.catch_warnings | None = warnings.catch_warnings(record=True)
        self.warnings = self.catching.__enter__()

    def __deepcopy__(self, memo: dict) -> HeldBack:
        # LightningCLI's instantiators hold the CLI, and the optimizer callables they build hold
        # those; a deep copy of the model (weight averaging) must not copy the logging handlers.
        return self

    def __getstate__(self) -> dict:
        return {"handlers": [], "records": [], "catching": None, "warnings": None}

    def release(self) -> None:
        records, caught = self.records, list(self.warnings or [])
        self.drop()
        for handler, log_record in records:
            handler.handle(log_record)
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno, source=warning.source)

    def drop(self) -> None:
        for handler in self.handlers:
            for held in [f for f in handler.filters if isinstance(f, _Holding) and f.held is self]:
                handler.removeFilter(held)
        self.records = []
        if self.catching is not None:
            self.catching.__exit__(None, None, None)
            self.catching, self.warnings = None, None


class _Holding(logging.Filter):
    def __init__(self, held: HeldBack, handler: logging.Handler) -> None:
        super().__init__()
        self.held, self.handler = held, handler

    def filter(self, record: logging.LogRecord) -> bool:
        self.held.records.append((self.handler, record))
        return False


class KeepLineBreaks(argparse.RawDescriptionHelpFormatter, DefaultHelpFormatter):
    """jsonargparse's help, with the description's command list kept on its lines."""


@contextlib.contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    """A Ctrl-C meanwhile is ignored (as Lightning does on its way out), so that what is being
    written (a stop's record) is written whole; the process ends right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
