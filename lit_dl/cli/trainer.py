"""The Trainer LightningCLI builds its subcommands from, and the config.yaml it saves.

LightningCLI makes a subcommand of each Trainer method it is told of: the method's arguments
become the subcommand's flags and its docstring's first line the help. `LitDLTrainer` is
Lightning's Trainer plus the `TrainerMethod` of every Trainer-backed command in the command
table (lit_dl.cli.table), such as `lr_find`.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback

from lit_dl.cli.table import COMMANDS
from lit_dl.run.config import save_config

# The Trainer-backed commands beyond LightningCLI's own, by subcommand name: their modules.
EXTENSIONS = {c.method: importlib.import_module(c.module) for c in COMMANDS if c.trainer and c.module}


class LitDLTrainer(*(extension.TrainerMethod for extension in EXTENSIONS.values()), Trainer):
    """Lightning's Trainer. `fit` declares `test_after_fit` so that `fit` (and only `fit`) has
    that flag; the evaluations are overridden for their one-line descriptions in `lit-dl
    --help`, and so that they print lit-dl's one `test:`/`val:` line instead of Lightning's
    table (verbose false); each calls Lightning's own."""

    def fit(
        self,
        model: LightningModule,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        datamodule: Any = None,
        ckpt_path: str | None = None,
        test_after_fit: bool = True,
    ) -> None:
        """Train an experiment, then test its best checkpoint (--test_after_fit false: no test)."""
        super().fit(model, train_dataloaders, val_dataloaders, datamodule, ckpt_path)

    def validate(
        self, model: Any = None, dataloaders: Any = None, ckpt_path: str | Path | None = None, verbose: bool = False,
        datamodule: Any = None, weights_only: bool | None = None,
    ) -> Any:
        """Evaluate a checkpoint on the validation set, recorded in its run."""
        return super().validate(model, dataloaders, ckpt_path, verbose, datamodule, weights_only)

    def test(
        self, model: Any = None, dataloaders: Any = None, ckpt_path: str | Path | None = None, verbose: bool = False,
        datamodule: Any = None, weights_only: bool | None = None,
    ) -> Any:
        """Evaluate a checkpoint on the test set, recorded in its run."""
        return super().test(model, dataloaders, ckpt_path, verbose, datamodule, weights_only)

    def predict(
        self, model: Any = None, dataloaders: Any = None, datamodule: Any = None, return_predictions: bool | None = None,
        ckpt_path: str | Path | None = None, weights_only: bool | None = None,
    ) -> Any:
        """Predict with a checkpoint; writes predictions.pt into its run."""
        return super().predict(model, dataloaders, datamodule, return_predictions, ckpt_path, weights_only)


def _own_flags(extension: Any) -> tuple[str, ...]:
    """A Trainer-backed command's own flags: how it searches, not how a run is trained."""
    method = next(m for name, m in vars(extension.TrainerMethod).items() if callable(m) and not name.startswith("_"))
    return tuple(name for name in inspect.signature(method).parameters if name not in ("self", *extension.FILLED))


class SaveConfigOnce(SaveConfigCallback):
    """config.yaml is written once, atomically, by the fit that creates the run; a resume, a
    `test` or a `predict` never rewrites it.

    It holds how the run was made, not how this command was called: without `fit`'s own flags
    (`ckpt_path`, `test_after_fit`) or another command's, so that every subcommand reads it."""

    COMMAND_FLAGS = ("ckpt_path", "test_after_fit", "weights_only", *(f for e in EXTENSIONS.values() for f in _own_flags(e)))

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        log_dir = trainer.log_dir  # every rank asks: it is broadcast from rank zero
        if stage == "fit" and trainer.is_global_zero and log_dir:
            config = self.config.clone()
            for flag in self.COMMAND_FLAGS:
                if flag in config:
                    del config[flag]
            # Init args the DataModule resolved from the data (ArrayDataModule's `standardize: auto`
            # becomes the mode used, relabelled `classes`), so the file says and reruns what was used.
            for key, value in getattr(trainer.datamodule, "choices", {}).items():
                config[f"data.init_args.{key}"] = value
            save_config(Path(log_dir), self.parser.dump(config, skip_none=False, skip_check=True))
