"""The CSV log every run keeps, whatever other loggers it has."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities.rank_zero import rank_zero_only


class _AppendingWriter(ExperimentWriter):
    """Lightning's writer deletes an existing `metrics.csv`; a resumed run must extend it.

    It also rewrites the file atomically when a new column appears, so a kill never truncates
    it, and can drop the rows an interrupted run logged after the checkpoint a resumed run
    starts from (the resumed run logs those steps again).
    """

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as file:
                header = next(csv.reader(file), [])
            self.metrics_keys = sorted(header)

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        self._rewrite(fieldnames, keep=lambda row: True)

    def drop_rows_from_step(self, step: int) -> None:
        """Forget the rows on disk logged at `step` or later; rows not yet saved are kept."""
        if os.path.isfile(self.metrics_file_path):
            self._rewrite(self.metrics_keys, keep=lambda row: not row.get("step") or int(float(row["step"])) < step)

    def _rewrite(self, fieldnames: list[str], keep: Callable[[dict[str, str]], bool]) -> None:
        with open(self.metrics_file_path, newline="") as file:
            rows = [row for row in csv.DictReader(file) if keep(row)]
        partial = f"{self.metrics_file_path}.tmp-{os.getpid()}"
        with open(partial, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(partial, self.metrics_file_path)


class RunCSVLogger(CSVLogger):
    """A CSVLogger whose `metrics.csv` survives a resume into the same run directory."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

    @rank_zero_only
    def log_hyperparams(self, params: Any = None) -> None:
        """hparams.yaml without LightningCLI's bookkeeping (`_instantiator`): the user's settings only."""
        if params is not None:
            params = {k: v for k, v in dict(vars(params) if not isinstance(params, dict) else params).items() if not str(k).startswith("_")}
        super().log_hyperparams(params)

    @rank_zero_only
    def drop_rows_from_step(self, step: int) -> None:
        """Forget what an interrupted run logged after the checkpoint this run resumes from."""
        self.experiment.drop_rows_from_step(step)
