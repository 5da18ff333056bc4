"""`lit-dl export RUN_DIR|CKPT --format onnx|torch-export|safetensors`: a trained run as one file
that takes raw inputs and gives class probabilities or values in the targets' units, checked
against the trained model before it is kept.

    lit-dl export runs/quickstart/version_0 --format onnx      # -> runs/quickstart/version_0/export/best.onnx
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from torch import Tensor

from lit_dl.commands.compare import parse
from lit_dl.errors import UserError
from lit_dl.export.check import METADATA_SUFFIX, TOLERANCE, export_checked
from lit_dl.export.formats import FORMATS, require
from lit_dl.export.load import LoadedRun, load_run, rebuild_model
from lit_dl.export.model import output_description
from lit_dl.run.layout import EXPORT_DIR, RunPaths

CHECK_SAMPLES = 64  # test inputs the file must reproduce the trained model on
FormatName = Literal["onnx", "torch-export", "safetensors"]


def build_parser() -> Any:
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(
        exit_on_error=False,
        prog="lit-dl export",
        description="Export a trained run as one file that takes raw inputs (the data's scaling and layout built in) "
        "and gives class probabilities or values in the targets' units; the file is read back and checked against "
        "the trained model on the run's own test inputs before it is kept.",
    )
    parser.add_argument("path", help="A run directory (runs/<experiment>/version_<n>) or a checkpoint file in one.")
    parser.add_argument("--format", type=FormatName, required=True,
                        help="onnx (ONNX Runtime and others), torch-export (a torch.export .pt2 archive) or safetensors (the weights).")
    parser.add_argument("--checkpoint", type=Literal["best", "last"] | None, default=None,
                        help="Which of the run directory's checkpoints (default: best).")
    parser.add_argument("--out", type=str | None, default=None,
                        help=f"The file to write (default: RUN_DIR/{EXPORT_DIR}/<checkpoint>.<onnx|pt2|safetensors>).")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="The largest difference from the trained model accepted per output value (relative above 1).")
    return parser


def main(argv: list[str]) -> None:
    args = parse(build_parser(), argv)
    chosen = require(args.format)  # a missing library is told before the run is loaded
    if args.tolerance < 0:
        raise UserError(f"--tolerance is {args.tolerance}; it must be 0 or more")
    path = Path(args.path)
    if path.is_file() and args.checkpoint:
        raise UserError(f"--checkpoint picks a run directory's best or last checkpoint, but {path} is a checkpoint file; "
                        "drop --checkpoint, or pass the run directory")
    run = load_run(path, args.checkpoint or "best")
    out = Path(args.out) if args.out else RunPaths(run.run_dir).exports / f"{run.checkpoint.stem}{chosen.suffix}"
    checked = export_checked(
        args.format, run.model, test_inputs(run.datamodule), out, run_metadata(run, args.format),
        fresh_model=lambda: rebuild_model(run.run_dir), tolerance=args.tolerance,
    )
    for note in checked.notes:
        print(note)
    scale = f" on outputs up to {checked.largest_output:.3g}" if checked.largest_output > 1 else ""
    print(f"checked with {chosen.reader} on {checked.samples} test inputs: largest absolute difference "
          f"{checked.max_difference:.2g}{scale} (tolerance {args.tolerance:g}, relative above 1); "
          f"metadata in {out.name}{METADATA_SUFFIX}")
    print(out, flush=True)


def test_inputs(datamodule: Any, count: int = CHECK_SAMPLES) -> Tensor:
    """The first `count` test inputs as a user has them; a DataModule without `raw_test_inputs`
    gives its first test batch (it then has no `input_transform` either)."""
    raw = getattr(datamodule, "raw_test_inputs", None)
    if raw is not None:
        inputs = raw(count)
    else:
        datamodule.setup("test")
        inputs = next(iter(datamodule.test_dataloader()))[0][:count]
    if len(inputs) == 0:
        raise UserError("the run's data has no test inputs to check the export on; give it a test split")
    return inputs.float().cpu()


def run_metadata(run: LoadedRun, format_name: str) -> dict[str, Any]:
    """What the exported file records about where it comes from and what its output means."""
    import lit_dl

    net = run.task.net
    return {
        "lit_dl_version": lit_dl.__version__,
        "format": format_name,
        "run": str(run.run_dir.resolve()),
        "checkpoint": str(run.checkpoint.resolve()),
        "net": f"{type(net).__module__}.{type(net).__qualname__}",
        "task": getattr(run.datamodule, "task", None) or type(run.task).__name__,
        "output": output_description(run.task, run.datamodule, run.task.num_outputs),
    }


assert set(FORMATS) == set(FormatName.__args__)  # one list of formats
