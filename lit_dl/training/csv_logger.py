"""The CSV log every run keeps, whatever other loggers it has: `<run>/metrics.csv`.

Lightning's `CSVLogger` with its own file writer: Lightning's writer deletes an existing
`metrics.csv` (a resumed run must extend it) and rewrites it in place when a new column appears
(a kill then truncates it). This one appends across resumes, rewrites through a temporary file
and a rename, ignores a last line a kill cut short, and drops the rows an interrupted run logged
after the checkpoint a resume starts from (the resumed run logs those steps again).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch import Tensor

from lit_dl.run.layout import HPARAMS_FILE, RunPaths, temporary_path


class MetricsFile:
    """The rows of one run's metrics.csv: those on disk and those logged since the last save."""

    def __init__(self, run_dir: Path) -> None:
        self.log_dir = str(run_dir)
        self.metrics_file_path = str(RunPaths(Path(run_dir)).metrics)
        self.metrics: list[dict[str, Any]] = []  # logged, not yet saved
        self.hparams: dict[str, Any] = {}
        self.metrics_keys = self._header_on_disk()

    def log_metrics(self, metrics_dict: dict[str, Any], step: int | None = None) -> None:
        row = {key: value.item() if isinstance(value, Tensor) else value for key, value in metrics_dict.items()}
        row["step"] = len(self.metrics) if step is None else step
        self.metrics.append(row)

    def log_hparams(self, params: dict[str, Any]) -> None:
        self.hparams.update(params)
        save_hparams_to_yaml(os.path.join(self.log_dir, HPARAMS_FILE), self.hparams)

    def save(self) -> None:
        if not self.metrics:
            return
        os.makedirs(self.log_dir, exist_ok=True)
        new_keys = set().union(*self.metrics) - set(self.metrics_keys)
        if new_keys:
            self.metrics_keys = sorted({*self.metrics_keys, *new_keys})
            if os.path.isfile(self.metrics_file_path):
                self._rewrite(keep=lambda row: True)
        exists = os.path.isfile(self.metrics_file_path)
        with open(self.metrics_file_path, "a" if exists else "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
            if not exists:
                writer.writeheader()
            writer.writerows(self.metrics)
        self.metrics = []

    def drop_rows_from_step(self, step: int) -> None:
        """Forget the rows on disk logged at `step` or later; rows not yet saved are kept."""
        if os.path.isfile(self.metrics_file_path):
            self._rewrite(keep=lambda row: not row.get("step") or int(float(row["step"])) < step)

    def _header_on_disk(self) -> list[str]:
        if not os.path.isfile(self.metrics_file_path):
            return []
        with open(self.metrics_file_path, newline="") as file:
            return sorted(next(csv.reader(file), []))

    def _rewrite(self, keep: Callable[[dict[str, str]], bool]) -> None:
        with open(self.metrics_file_path, newline="") as file:
            text = file.read()
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # a kill cut the last row short
        rows = [row for row in csv.DictReader(text.splitlines()) if keep(row)]
        partial = temporary_path(Path(self.metrics_file_path))
        try:
            with open(partial, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(rows)
            os.replace(partial, self.metrics_file_path)
        finally:
            partial.unlink(missing_ok=True)


class RunCSVLogger(CSVLogger):
    """Lightning's CSVLogger, writing `metrics.csv` and `hparams.yaml` into the run directory."""

    def __init__(self, run_dir: Path | str, flush_logs_every_n_steps: int = 100) -> None:
        run_dir = Path(run_dir)
        super().__init__(save_dir=run_dir, name="", version="", flush_logs_every_n_steps=flush_logs_every_n_steps)
        self.run_dir = run_dir
        self._file: MetricsFile | None = None

    @property
    def log_dir(self) -> str:
        return str(self.run_dir)

    @property
    def name(self) -> str:
        return self.run_dir.parent.name

    @property
    def version(self) -> str:
        return self.run_dir.name

    @property
    @rank_zero_experiment
    def experiment(self) -> MetricsFile:
        if self._file is None:
            self._file = MetricsFile(self.run_dir)
        return self._file

    @rank_zero_only
    def log_hyperparams(self, params: Any = None) -> None:
        """hparams.yaml without LightningCLI's bookkeeping (`_instantiator`): the user's settings only."""
        if params is not None:
            params = {k: v for k, v in dict(vars(params) if not isinstance(params, dict) else params).items() if not str(k).startswith("_")}
        super().log_hyperparams(params)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._file is not None:  # only the process that logged has rows to save
            self.save()

    @rank_zero_only
    def drop_rows_from_step(self, step: int) -> None:
        """Forget what an interrupted run logged after the checkpoint this run resumes from."""
        self.experiment.drop_rows_from_step(step)
