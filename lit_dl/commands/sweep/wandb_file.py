"""The same search as a W&B sweep file (`wandb sweep wandb_sweep.yaml`, then `wandb agent SWEEP_ID`):
the agent runs `lit-dl fit` with `--key=value` flags appended through `${args}`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lit_dl.commands.sweep.space import SEED_KEY, Sweep


def wandb_sweep_file(sweep: Sweep, fit_args: list[str], seeds: list[int] | None = None) -> dict[str, Any]:
    """The sweep as W&B reads it; a grid's seeds become one more grid axis."""
    command = ["lit-dl", "fit"]
    for config in sweep.configs:
        command += ["--config", _shown_path(config)]
    if not any(_has_wandb_logger(config) for config in sweep.configs) and "--trainer.logger+=WandbLogger" not in fit_args:
        command.append("--trainer.logger+=WandbLogger")  # the agent's trial must report to W&B
    command += ["--name", sweep.name, *fit_args, "${args}"]
    parameters = dict(sweep.parameters)
    if seeds and sweep.method == "grid":
        parameters[SEED_KEY] = {"values": list(seeds)}
    spec: dict[str, Any] = {"name": sweep.name, "method": sweep.method, "metric": sweep.metric, "parameters": parameters}
    if sweep.count and sweep.method != "grid":
        spec["run_cap"] = sweep.count
    if sweep.early_terminate and sweep.early_terminate.get("type") == "hyperband":  # W&B knows no other
        spec["early_terminate"] = sweep.early_terminate
    return {**spec, **sweep.extra, "command": command}


def write_wandb_sweep_file(path: Path, sweep: Sweep, fit_args: list[str], seeds: list[int] | None = None) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# lit-dl sweep {sweep.name} as a W&B sweep: wandb sweep {path.name}, then wandb agent SWEEP_ID\n"
        + yaml.safe_dump(wandb_sweep_file(sweep, fit_args, seeds), sort_keys=False)
    )
    return path


def _has_wandb_logger(config: Path) -> bool:
    import yaml

    loggers = ((yaml.safe_load(config.read_text()) or {}).get("trainer") or {}).get("logger") or []
    loggers = loggers if isinstance(loggers, list) else [loggers]
    return any(isinstance(item, dict) and str(item.get("class_path", "")).endswith("WandbLogger") for item in loggers)


def _shown_path(path: Path) -> str:
    """Relative to the working directory when below it, as a command run from here should name it."""
    relative = os.path.relpath(path)
    return path.resolve().as_posix() if relative.startswith("..") else Path(relative).as_posix()
