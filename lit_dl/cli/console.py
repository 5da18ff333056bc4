"""What `lit-dl` prints, and what it keeps Lightning and its dependencies from printing.

A fit starts with lit-dl's own few lines (see lit_dl.training.summary); the messages below say
nothing to a lit-dl user and are silenced here, each by its message at its source, through public
means only: warning filters and the levels of Lightning's loggers. `LIT_DL_DEBUG=1` keeps them all.
"""

from __future__ import annotations

import logging
import os
import warnings

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
