"""The user's own data from one `.npz` file, checked up front so mistakes surface as one line.

The file holds `x_train`, `y_train`, `x_test`, `y_test` and optionally `x_val`, `y_val`
(`numpy.savez("my_data.npz", x_train=..., y_train=..., ...)`). It is read in `__init__`: the CLI
links `input_shape` and `num_outputs` into the net before anything else is built.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from lit_dl.data.base import InMemoryDataModule
from lit_dl.data.inputs import RawInputs
from lit_dl.data.scaling import InputScaler, resolve_mode
from lit_dl.errors import UserError

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")
KNOWN_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")  # other arrays are ignored


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise UserError(f"data file {path} does not exist; point data.init_args.path at your .npz file")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"cannot read {path} as a .npz file ({error}); write it with numpy.savez") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UserError(f"{path} holds a single array, not a .npz archive; write it with numpy.savez(x_train=..., ...)")
    with archive:
        try:
            arrays = {key: archive[key] for key in archive.files}
        except ValueError as error:  # numpy's answer to object arrays when pickles are refused
            raise UserError(f"{path} holds non-numeric (object) arrays ({error}); save plain numeric arrays") from None
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise UserError(f"cannot read {path} as a .npz file ({error}); write it with numpy.savez") from None
    return arrays


def _check_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if ("x_val" in arrays) != ("y_val" in arrays):
        missing.append("y_val" if "x_val" in arrays else "x_val")
    if missing:
        raise UserError(
            f"{path} lacks {', '.join(missing)}; it holds {', '.join(sorted(arrays)) or 'nothing'} "
            f"and needs {', '.join(REQUIRED_KEYS)} (x_val and y_val optional, together)"
        )
    arrays = {key: arrays[key] for key in KNOWN_KEYS if key in arrays}
    for key, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise UserError(f"{key} in {path} has dtype {array.dtype}; inputs and targets must be numeric")
        if array.ndim == 0:
            raise UserError(f"{key} in {path} is a scalar; it must hold one entry per sample")
    for split in ("train", "val", "test"):
        if f"x_{split}" not in arrays:
            continue
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise UserError(f"x_{split} has {len(x)} samples but y_{split} has {len(y)} in {path}; they must match")
        if len(x) == 0:
            raise UserError(f"x_{split} in {path} is empty")
        for key, array in ((f"x_{split}", x), (f"y_{split}", y)):
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise UserError(f"{key} in {path} contains NaN or infinite values; clean or impute them first")
    for prefix in ("x_", "y_"):
        sample_shapes = {key: arrays[key].shape[1:] for key in arrays if key.startswith(prefix)}
        if len(set(sample_shapes.values())) > 1:
            described = ", ".join(f"{key} {list(shape)}" for key, shape in sample_shapes.items())
            raise UserError(f"the {prefix[0]} arrays in {path} differ in sample shape ({described}); they must agree")


def infer_task(y_train: np.ndarray) -> Literal["classification", "regression"]:
    """Classification for integer labels, and for whole-number float labels that are exactly the
    classes 0, 1, ..., K-1 (K >= 2, each present); regression for any other float targets (e.g.
    prices or scores, even when they happen to be whole numbers)."""
    if y_train.dtype.kind in "biu":
        return "classification"
    if y_train.ndim > 1 and math.prod(y_train.shape[1:]) != 1:
        return "regression"
    values = np.unique(y_train)
    is_class_indices = len(values) >= 2 and np.array_equal(values, np.arange(len(values)))
    return "classification" if is_class_indices else "regression"


def _is_one_hot(labels: np.ndarray) -> bool:
    """Rows of 0s with a single 1, over at least two columns."""
    if labels.ndim != 2 or labels.shape[1] < 2:
        return False
    return bool(np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all())


class ArrayDataModule(InMemoryDataModule):
    """Train, validate and test on arrays from a `.npz` file; batches are `(x, y)`."""

    def __init__(
        self,
        path: str,
        input_shape: list[int] | None = None,
        task: Literal["classification", "regression"] | None = None,
        standardize: Literal["auto", "feature", "channel", "global", "none"] | bool = "auto",
        std_floor: float = 0.2,
        clip_quantile: float = 0.0,
        standardize_targets: bool = True,
        classes: list[int | float] | None = None,
        val_fraction: float = 0.1,
        train_on_val: bool = False,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        """
        Args:
            path: the .npz file with x_train, y_train, x_test, y_test (and optionally x_val, y_val).
            input_shape: the shape of one sample, e.g. [40, 1] for a sequence of 40 steps of one
                feature or [1, 8, 8] for a one-channel image; left out, the arrays' own shape.
            task: classification or regression; left out, inferred from y_train: integer labels,
                and whole-number floats that are exactly the classes 0..K-1, are classification;
                other floats regression.
            standardize: how inputs are scaled with the training split's statistics (see
                lit_dl.data.scaling): feature (each input value on its own), channel (each channel
                of [C, H, W], each feature of [T, F]), global (one mean and scale) or none; auto
                picks channel for [C, H, W] and [T, F], feature for flat vectors (true is auto,
                false none). The run's config.yaml records the mode used.
            std_floor: each scale is at least this fraction of the largest distance of a training
                value from the mean, so no training value lands beyond 1 / std_floor scales from
                it (5 by default): a nearly constant feature cannot blow up; 0 turns it off.
            clip_quantile: fit the scaling on training values clipped to their [q, 1 - q]
                quantiles (e.g. 0.01), for heavy-tailed inputs; 0 fits on the values as they are.
            standardize_targets: for regression, train on targets scaled to zero mean and unit
                variance per output with the training split's statistics (`target_mean`,
                `target_std`); a Regressor still logs its errors and predicts in the targets' units.
            classes: for classification, the labels in class order (class i is classes[i]); left
                out, the sorted labels of y_train. Labels other than 0..K-1 (1..3, -1/1, 0/5/10)
                are trained as classes 0..K-1 and reported under their own names; the run's
                config.yaml records them here.
            val_fraction: the share of the training arrays held out for validation when the file
                has no x_val / y_val.
            train_on_val: also train on the validation samples (the test split stays unseen): a
                recipe whose epoch count is fixed and whose final weights are tested chooses
                nothing on validation, and on a small set the 10% held out costs accuracy (0.2-0.8
                points in benchmarks/quality.md); val metrics are then in-sample.
            batch_size: samples per training batch.
            eval_batch_size: samples per validation and test batch (default max(batch_size, 256)).
            seed: picks the validation split and shuffles the batches.
        """
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, seed=seed)
        self.path = Path(path)
        arrays = _read_npz(self.path)
        _check_arrays(arrays, self.path)

        stored_shape = tuple(arrays["x_train"].shape[1:]) or (1,)  # a 1-D x is one feature per sample
        self.stored_shape = stored_shape
        sample_size = math.prod(stored_shape)
        self.input_shape = tuple(input_shape) if input_shape is not None else stored_shape
        if math.prod(self.input_shape) != sample_size or any(d < 1 for d in self.input_shape):
            raise UserError(
                f"input_shape {list(self.input_shape)} does not fit the {sample_size} values of each sample "
                f"(stored as {list(stored_shape)}); its entries must multiply to {sample_size}"
            )

        targets = {split: arrays[f"y_{split}"] for split in ("train", "val", "test") if f"y_{split}" in arrays}
        y = self._read_targets(targets, task, classes)
        x = {
            split: torch.from_numpy(arrays[f"x_{split}"].astype(np.float32).reshape(-1, *self.input_shape))
            for split in targets
        }

        if "val" not in x:
            x["train"], y["train"], x["val"], y["val"] = self._split_off_validation(x["train"], y["train"], val_fraction)
        self.train_on_val = train_on_val
        if train_on_val:
            x["train"], y["train"] = torch.cat([x["train"], x["val"]]), torch.cat([y["train"], y["val"]])
        mode = resolve_mode(standardize, self.input_shape)
        # The splits keep the raw inputs; loaders serve them scaled. A checkpoint carries the
        # scaler (`state_dict`), so a model restored from it reads raw inputs the way it trained.
        self.scaler = InputScaler.fit(x["train"], mode, std_floor=std_floor, clip_quantile=clip_quantile)
        self.splits = {split: (x[split], y[split]) for split in ("train", "val", "test")}
        if self.task == "regression" and standardize_targets:
            self.scale_targets()

    def input_transform(self) -> RawInputs:
        """A row of the file's `x_*` arrays to the net's input: reshaped to `input_shape`, and
        standardised with the training split's statistics when `standardize` is on."""
        return RawInputs(self.stored_shape, self.input_shape, mean=self.input_mean, std=self.input_std,
                         what="the training split's mean and standard deviation")

    def raw_test_inputs(self, count: int) -> Tensor:
        """The first `count` rows of `x_test` as the file holds them."""
        x_test = _read_npz(self.path)["x_test"][:count]
        return torch.from_numpy(x_test.astype(np.float32).reshape(len(x_test), *self.stored_shape))

    def _read_targets(
        self, targets: dict[str, np.ndarray], task: str | None, classes: list[int | float] | None
    ) -> dict[str, Tensor]:
        """Each split's targets as tensors; sets the task, its classes or outputs."""
        y_train = targets["train"]
        if task != "regression" and _is_one_hot(y_train):
            raise UserError(
                f"y_train in {self.path} looks one-hot encoded (shape {list(y_train.shape)}, one 1 per row); "
                "store one class index per sample instead: y.argmax(axis=1)"
            )
        self.task = task or infer_task(y_train)
        self.classes: list[int | float] | None = None
        if self.task == "regression":
            self.num_classes = None
            self.num_outputs = math.prod(y_train.shape[1:])
            return {split: torch.from_numpy(values.reshape(len(values), -1).astype(np.float32)) for split, values in targets.items()}
        labels = class_labels(targets, self.path, classes)
        self.classes = [_plain_number(label) for label in labels]
        self.num_classes = self.num_outputs = len(labels)
        self.class_names = [str(label) for label in self.classes]
        return {split: torch.from_numpy(class_indices(labels, values.reshape(len(values)))) for split, values in targets.items()}

    @property
    def input_mean(self) -> Tensor | None:
        return self.scaler.mean

    @property
    def input_std(self) -> Tensor | None:
        """The scale inputs are divided by (the standard deviation, floored; see std_floor)."""
        return self.scaler.scale

    @property
    def choices(self) -> dict[str, Any]:
        """The init args this DataModule resolved from the data: config.yaml records them as used
        (so the run reruns the same), and results.json keeps them under `data`."""
        renamed = self.classes is not None and self.classes != list(range(len(self.classes)))
        return {"standardize": self.scaler.mode, **({"classes": self.classes} if renamed else {})}

    @property
    def description(self) -> str:
        """How the inputs and labels are read, for the run summary's data line."""
        parts = [f"standardize {self.scaler.mode}"] + (["trained on val too"] if self.train_on_val else [])
        if "classes" in self.choices:
            shown = ", ".join(self.class_names[:8]) + (", ..." if len(self.class_names) > 8 else "")
            parts.append(f"labels {shown} trained as classes 0..{len(self.classes) - 1}")
        return "; ".join(parts)

    def tensors(self, split: str) -> tuple[Tensor, ...]:
        x, y = self.splits[split]
        return self.scaler(x), y

    def state_dict(self) -> dict[str, Any]:
        return {"input_scaler": self.scaler.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # A checkpoint's scaler wins over the one fitted on the file as it is now.
        if "input_scaler" in state_dict:
            self.scaler = InputScaler.from_state_dict(state_dict["input_scaler"])

    def _split_off_validation(self, x: Tensor, y: Tensor, val_fraction: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        n_val = round(val_fraction * len(x))
        if not 0 < val_fraction < 1 or n_val < 1 or n_val >= len(x):
            raise UserError(
                f"val_fraction {val_fraction} of {len(x)} training samples leaves no validation or no training "
                f"data; choose a fraction in (0, 1) or store x_val and y_val in {self.path}"
            )
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
        val, train = order[:n_val], order[n_val:]
        return x[train], y[train], x[val], y[val]


def class_labels(targets: dict[str, np.ndarray], path: Path, classes: list[int | float] | None) -> np.ndarray:
    """The sorted labels of the classes (`classes` if given), checked against every split."""
    for split, labels in targets.items():
        if labels.ndim > 1 and math.prod(labels.shape[1:]) != 1:
            raise UserError(
                f"y_{split} in {path} has shape {list(labels.shape)}; classification needs one "
                "class label per sample (set task: regression for multi-output targets)"
            )
        if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
            raise UserError(
                f"y_{split} in {path} has fractional values; classification needs whole-number "
                "class labels (or set task: regression)"
            )
    found = np.unique(targets["train"])
    known = found if classes is None else np.asarray(classes)
    if len(np.unique(known)) != len(known):
        raise UserError(f"classes {classes} lists a label twice; list each label of y_train once")
    if len(known) < 2:
        raise UserError(f"y_train in {path} holds only the label {_plain_number(found[0])}; classification needs at least two classes")
    for split, labels in targets.items():
        unknown = np.setdiff1d(np.unique(labels), known)
        if len(unknown):
            named = ", ".join(str(_plain_number(label)) for label in unknown[:5])
            where = "y_train" if classes is None else f"classes {[_plain_number(c) for c in known]}"
            raise UserError(f"y_{split} in {path} has label(s) {named} that {where} lacks; every class must appear in training")
    missing = np.setdiff1d(known, found)
    if len(missing):
        raise UserError(f"classes lists {', '.join(str(_plain_number(c)) for c in missing)}, which y_train in {path} never holds; every class must appear in training")
    return known


def class_indices(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The class index of each label in `values`: its position in `labels`."""
    order = np.argsort(labels, kind="stable")
    return order[np.searchsorted(labels[order], values)].astype(np.int64)


def _plain_number(value: Any) -> int | float:
    """A numpy label as the plain int (or float) a user typed: 3, not 3.0 or np.int64(3)."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if float(value).is_integer() else float(value)
