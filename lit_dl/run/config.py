"""A run's `config.yaml`: written once by the fit that creates the run, read by everything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lit_dl.errors import UserError
from lit_dl.run.files import write_once
from lit_dl.run.layout import RunPaths


def save_config(run_dir: Path, text: str) -> bool:
    """Write the fit's resolved config; never rewrite one an earlier command wrote."""
    return write_once(RunPaths(Path(run_dir)).config, text)


def read_config(run_dir: Path) -> dict[str, Any]:
    """The run's config.yaml as a mapping ({} when the run has none); a broken file is a UserError."""
    import yaml

    path = RunPaths(Path(run_dir)).config
    if not path.is_file():
        return {}
    try:
        config = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}; fix or remove the broken file") from error
    return config if isinstance(config, dict) else {}


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`: the same dotted keys as the command-line flags."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
