"""A sweep file's parameters checked against the experiment's own parser before any trial runs:
a misspelt option or a value of the wrong type is one line, not a failure of every trial."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from lit_dl.commands.sweep import space
from lit_dl.errors import UserError


def variants(sweep: space.Sweep, seeds: list[int] | None) -> list[dict[str, Any]]:
    """The experiment alone (with the seed), then each value of each parameter on its own."""
    base = [space.flag(space.SEED_KEY, seeds[0])] if seeds else []
    found = [{"key": None, "value": None, "flags": base}]
    for key, spec in sweep.parameters.items():
        found += [{"key": key, "value": value, "flags": [*base, space.flag(key, value)]} for value in _values(spec)]
    return found


def _values(spec: dict[str, Any]) -> list[Any]:
    """The values worth parsing: each of a list, the bounds of a distribution."""
    if "distribution" not in spec:
        unique = {json.dumps(value, sort_keys=True, default=str): value for value in space.grid_values(spec)}
        return list(unique.values())
    distribution = space.distribution(spec)
    return [space.decode(spec, bound) for bound in (distribution.low, distribution.high)]


def check_parameters(path: Path, sweep: space.Sweep, command: list[str], seeds: list[int] | None) -> None:
    """Raise a one-line UserError for the first parameter value the experiment does not accept."""
    fit = command[command.index("fit") + 1 :]
    request = json.dumps({"fit": fit, "variants": variants(sweep, seeds)})
    done = subprocess.run([sys.executable, "-m", "lit_dl.cli.parse_check"], input=request, capture_output=True, text=True)
    try:
        failure = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"the parser check of {path} failed: {done.stderr[-2000:]}") from None
    if failure is None:
        return
    if failure["key"] is None:
        raise UserError(f"{path}: the experiment does not run with the flags given to every trial: {failure['error']}")
    raise UserError(f"{path}: parameter '{failure['key']}' = {failure['value']!r}: {failure['error']}")
