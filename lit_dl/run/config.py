"""A run's `config.yaml`: written once by the fit that creates the run, read by everything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lit_dl.run.files import write_once

CONFIG_FILE = "config.yaml"


def save_config(run_dir: Path, text: str) -> bool:
    """Write the fit's resolved config; never rewrite one an earlier command wrote."""
    return write_once(Path(run_dir) / CONFIG_FILE, text)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`: the same dotted keys as the command-line flags."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
