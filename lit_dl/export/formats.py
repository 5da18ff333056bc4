"""The three formats `lit-dl export` writes, each with the library made for it, and read back.

- `onnx`: `torch.onnx.export` (the dynamo exporter; needs onnx and onnxscript), read back in
  ONNX Runtime; the metadata goes into the model's `metadata_props`.
- `torch-export`: `torch.export.export` and `torch.export.save` (a `.pt2` archive), read back
  with `torch.export.load`; the metadata is the archive's extra file `lit_dl.json`.
- `safetensors`: the UserModel's `state_dict` (weights, the data's statistics, the target
  scale) with `safetensors.torch.save_model`, read back into a model rebuilt from the run's
  config.yaml; the metadata is the file header's.

Every writer takes the model, an example batch, the dynamic dimensions (torch.export's
`dynamic_shapes`) and the metadata; every loader returns a function from a batch to the outputs.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lit_dl.errors import UserError
from lit_dl.export.model import INPUT_NAME
from lit_dl.internals import forget_cached_rnn_kernels

INSTALL = 'pip install "lit-dl[export]"'
METADATA_FILE = "lit_dl.json"  # inside a .pt2 archive
Runner = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    requires: tuple[str, ...]  # modules it imports
    reader: str  # what reads the file back, in words
    write: Callable[[nn.Module, Tensor, Any, Path, dict[str, str]], None]
    load: Callable[[Path, Callable[[], nn.Module]], Runner]


def metadata_strings(metadata: dict[str, Any]) -> dict[str, str]:
    """The metadata as ONNX and safetensors hold it: text values (JSON for anything else)."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in metadata.items()}


def require(format_name: str) -> Format:
    """The format, once every library it needs imports; else one line naming them and the extra."""
    chosen = FORMATS[format_name]
    missing = [module for module in chosen.requires if not _importable(module)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise UserError(f"--format {format_name} needs {' and '.join(missing)}, which {verb} not installed; {INSTALL}")
    return chosen


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No output while an exporter works: its warnings, log records and printed graphs are about
    its own internals (a failure is raised, and becomes one line)."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


# -- ONNX ---------------------------------------------------------------------------------------
def write_onnx(model: nn.Module, example: Tensor, dynamic_shapes: Any, path: Path, metadata: dict[str, str]) -> None:
    forget_cached_rnn_kernels()  # else a second LSTM or GRU in this process loses its free length
    with quiet():
        program = torch.onnx.export(
            model, (example,), dynamo=True, verbose=False, input_names=[INPUT_NAME],
            output_names=[getattr(model, "output_name", "outputs")], dynamic_shapes=dynamic_shapes,
        )
    program.model.metadata_props.update(metadata)
    program.save(str(path), external_data=False)


def load_onnx(path: Path, fresh_model: Callable[[], nn.Module]) -> Runner:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # a shape it refuses is raised below; its log would repeat it
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {INPUT_NAME: x.numpy()})[0])


# -- torch.export -------------------------------------------------------------------------------
def write_torch_export(model: nn.Module, example: Tensor, dynamic_shapes: Any, path: Path, metadata: dict[str, str]) -> None:
    with quiet():
        program = torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
    torch.export.save(program, str(path), extra_files={METADATA_FILE: json.dumps(metadata)})


def load_torch_export(path: Path, fresh_model: Callable[[], nn.Module]) -> Runner:
    module = torch.export.load(str(path)).module()

    def run(x: Tensor) -> Tensor:
        with torch.no_grad():
            return module(x)

    return run


# -- safetensors --------------------------------------------------------------------------------
def write_safetensors(model: nn.Module, example: Tensor, dynamic_shapes: Any, path: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_model

    save_model(model, str(path), metadata=metadata, force_contiguous=True)
    mask = os.umask(0)  # safetensors creates its file readable by its owner only; make it like any other
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def load_safetensors(path: Path, fresh_model: Callable[[], nn.Module]) -> Runner:
    from safetensors.torch import load_model

    model = fresh_model()
    load_model(model, str(path), strict=True, device="cpu")
    model.eval()

    def run(x: Tensor) -> Tensor:
        with torch.no_grad():
            return model(x)

    return run


FORMATS = {
    "onnx": Format("onnx", ".onnx", ("onnx", "onnxscript", "onnxruntime"), "ONNX Runtime", write_onnx, load_onnx),
    "torch-export": Format("torch-export", ".pt2", (), "torch.export.load", write_torch_export, load_torch_export),
    "safetensors": Format("safetensors", ".safetensors", ("safetensors",), "a model rebuilt from config.yaml",
                          write_safetensors, load_safetensors),
}
