"""Write an exported file, read it back, and hold it against the eager model on real inputs.

The file is written beside its destination under a temporary name and renamed into place only
once the reader of its format (ONNX Runtime, `torch.export.load`, a rebuilt model) reproduces the
eager UserModel on the inputs within the tolerance: a failed export leaves nothing behind.

Sequences (`[T, F]` samples) keep a free number of steps where the net allows it: the eager
model is tried on a shorter (and a longer) batch first, and the file is tried on the shorter one;
where its format fixes the length after all, it is written again for exactly T steps, with one
line saying so.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.export import Dim

from lit_dl.errors import UserError
from lit_dl.export.formats import Format, Runner, metadata_strings, require
from lit_dl.export.model import INPUT_NAME, UserModel
from lit_dl.run.files import write_atomically

TOLERANCE = 1e-4  # fp32: per value, absolute up to 1 and relative beyond
METADATA_SUFFIX = ".json"  # the sidecar: `best.onnx` -> `best.onnx.json`
Steps = tuple[int, int | None] | None  # a sequence's step counts (least, most or unbounded); None: fixed


@dataclass
class Checked:
    path: Path
    max_difference: float
    largest_output: float  # the tolerance is relative above 1
    samples: int
    notes: list[str] = field(default_factory=list)  # one line each: a sequence length the file fixes


def export_checked(
    format_name: str, model: UserModel, inputs: Tensor, path: Path, metadata: dict[str, Any],
    fresh_model: Callable[[], nn.Module], tolerance: float = TOLERANCE,
) -> Checked:
    """Export `model` to `path`, check it on `inputs` (raw samples) and write `<path>.json`, the
    metadata with the check's figures; a UserError, and nothing written, when it cannot be done."""
    chosen = require(format_name)
    with torch.no_grad():
        expected = model(inputs)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}{chosen.suffix}")
    created = [folder for folder in reversed(path.parents) if not folder.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        run, steps, notes = _write_and_read(chosen, model, inputs, partial, metadata, fresh_model, tolerance)
        difference, within = largest_difference(_run_file(run, inputs, chosen, model), expected, tolerance)
        if not within:
            raise UserError(
                f"the {format_name} file differs from the trained model by up to {difference:.3g} on {len(inputs)} of "
                f"the run's test inputs (tolerance {tolerance:g}); nothing was written: export another --format, "
                f"or accept it with --tolerance {difference * 2:.1g}"
            )
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        for folder in reversed(created):
            _remove_empty(folder)
        raise
    check = {"max_abs_difference": difference, "tolerance": tolerance, "test_inputs": len(inputs), "read_back_with": chosen.reader}
    record = {**metadata, "input": input_description(model, steps), "check": check}
    write_atomically(Path(f"{path}{METADATA_SUFFIX}"), json.dumps(record, indent=2) + "\n")
    return Checked(path, difference, float(expected.abs().max()), len(inputs), notes)


def _write_and_read(
    chosen: Format, model: UserModel, inputs: Tensor, path: Path, metadata: dict[str, Any],
    fresh_model: Callable[[], nn.Module], tolerance: float,
) -> tuple[Runner, Steps, list[str]]:
    """Write the file with as free a sequence length as the net and the format allow; read it back."""
    net, notes = type(model.net).__name__, []
    steps = sequence_steps(model, inputs) if model.takes_sequences() else None
    length = inputs.shape[1] if model.takes_sequences() else None
    if model.takes_sequences() and steps is None:
        notes.append(f"{net}: takes sequences of exactly {length} steps: the net itself runs on no other length")
    elif steps is not None and steps[1] is not None:
        notes.append(f"{net}: takes sequences of 1 to {length} steps: the net itself refuses longer ones")
    if steps is not None:
        try:
            _write(chosen, model, inputs, path, metadata, steps)
            run = chosen.load(path, fresh_model)
            if all(_reproduces(run, model, batch, tolerance) for batch in _other_lengths(inputs, steps)):
                return run, steps, notes
        except Exception:  # noqa: BLE001  (the exporter or the reader refused the free length)
            pass
        notes.append(f"{net}: the {chosen.name} file takes sequences of exactly {length} steps: {_fixed_because(model.net)}")
    _write(chosen, model, inputs, path, metadata, None)
    return chosen.load(path, fresh_model), None, notes


def _write(chosen: Format, model: UserModel, inputs: Tensor, path: Path, metadata: dict[str, Any], steps: Steps) -> None:
    example = inputs[:2] if len(inputs) > 1 else inputs.repeat(2, *([1] * (inputs.ndim - 1)))
    dims: dict[int, Any] = {0: Dim("batch", min=1)}
    if steps is not None:
        dims[1] = Dim("steps", min=steps[0], max=steps[1])
    described = metadata_strings({**metadata, "input": input_description(model, steps)})
    try:
        chosen.write(model, example, {INPUT_NAME: dims}, path, described)
    except UserError:
        raise
    except Exception as error:
        if steps is not None:
            raise  # tried again with a fixed length
        raise UserError(
            f"{type(model.net).__name__} cannot be exported to {chosen.name}: {_first_line(error)}; "
            "export it to another --format (safetensors always works)"
        ) from error


def _run_file(run: Runner, inputs: Tensor, chosen: Format, model: UserModel) -> Tensor:
    try:
        return run(inputs)
    except Exception as error:
        raise UserError(
            f"{chosen.reader} cannot run the {chosen.name} file of {type(model.net).__name__} on the run's test inputs "
            f"({_first_line(error)}); export it to another --format"
        ) from error


def sequence_steps(model: UserModel, inputs: Tensor) -> Steps:
    """The step counts the eager model runs on: (1, None) any, (1, T) up to the T it was built
    for; None when it runs on T steps only (or T is 1)."""
    length = inputs.shape[1]
    if length < 2:
        return None
    shorter, *longer = _other_lengths(inputs, (1, None))
    if not _runs(model, shorter):
        return None
    return (1, None) if _runs(model, longer[0]) else (1, length)


def _other_lengths(inputs: Tensor, steps: Steps) -> list[Tensor]:
    """A few test inputs cut to half their steps, and when the net takes any length, longer by half."""
    batch, length = inputs[:4], inputs.shape[1]
    batches = [batch[:, : length // 2]]
    if steps is not None and steps[1] is None:
        batches.append(torch.cat([batch, batch[:, : max(1, length // 2)]], dim=1))
    return batches


def _reproduces(run: Runner, model: nn.Module, x: Tensor, tolerance: float) -> bool:
    with torch.no_grad():
        return largest_difference(run(x), model(x), tolerance)[1]


def _runs(model: nn.Module, x: Tensor) -> bool:
    try:
        with torch.no_grad():
            model(x)
    except Exception:  # noqa: BLE001  (any refusal means: not this length)
        return False
    return True


def _fixed_because(net: nn.Module) -> str:
    if any(isinstance(module, nn.RNNBase) for module in net.modules()):
        return "its exporter unrolls the recurrent layers over them"
    return "its exporter fixed the length"


def input_description(model: UserModel, steps: Steps) -> dict[str, Any]:
    """The input's name, type, shape (`batch`, and `steps` when free) and preprocessing."""
    shape: list[Any] = ["batch", *model.raw_shape]
    described: dict[str, Any] = {"name": INPUT_NAME, "dtype": "float32", "shape": shape}
    if model.takes_sequences():
        length = model.raw_shape[0]
        if steps is not None:
            shape[1] = "steps"
        described["steps"] = f"exactly {length}" if steps is None else ("any" if steps[1] is None else f"1 to {steps[1]}")
    described["preprocessing"] = model.inputs.describe()
    return described


def largest_difference(actual: Tensor, expected: Tensor, tolerance: float) -> tuple[float, bool]:
    """The largest absolute difference, and whether every value is within `tolerance` (absolute
    for values up to 1, relative beyond: fp32 keeps about 7 digits of any value)."""
    if actual.shape != expected.shape:
        return float("inf"), False
    difference = (actual.float() - expected.float()).abs()
    within = bool((difference <= tolerance * expected.abs().clamp(min=1.0)).all())
    return float(difference.max()) if difference.numel() else 0.0, within


def _first_line(error: BaseException) -> str:
    """The first line of the innermost cause: exporters wrap the reason in their own advice."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # terminal colours
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # holds something, or was never made
