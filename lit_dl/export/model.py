"""The model a user gets: a trained net between the data's preprocessing and the output's meaning.

`UserModel` takes inputs as a user has them (the DataModule's `input_transform` scales and lays
them out for the net) and returns class probabilities or values in the targets' own units. It is
what `lit-dl export` writes and what `lit_dl.load_run(...).predict` runs.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from lit_dl.cli.predictions import class_probabilities
from lit_dl.data.inputs import RawInputs
from lit_dl.tasks.classifier import Classifier, class_labels
from lit_dl.tasks.regressor import Regressor

INPUT_NAME = "inputs"


class ClassProbabilities(nn.Module):
    """A classifier's logits -> class probabilities `(B, C)` (see `class_probabilities`)."""

    name = "probabilities"

    def forward(self, logits: Tensor) -> Tensor:
        return class_probabilities(logits)


class TargetUnits(nn.Module):
    """A regressor's outputs on the training scale -> values `(B, num_outputs)` in the targets' units."""

    name = "predictions"

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().float().clone().reshape(-1))
        self.register_buffer("std", std.detach().float().clone().reshape(-1))

    def forward(self, outputs: Tensor) -> Tensor:
        return outputs.reshape(outputs.shape[0], -1) * self.std + self.mean


class UserModel(nn.Module):
    """`outputs(net(inputs(x)))`; with `flip_average` (a classifier's `tta_flip`) the net's
    logits are averaged with those of the horizontally mirrored input, as the task predicts."""

    def __init__(self, inputs: RawInputs, net: nn.Module, outputs: nn.Module, flip_average: bool = False) -> None:
        super().__init__()
        self.inputs, self.net, self.outputs = inputs, net, outputs
        self.flip_average = flip_average

    def forward(self, inputs: Tensor) -> Tensor:
        x = self.inputs(inputs)
        y = self.net(x)
        if self.flip_average:
            y = (y + self.net(x.flip(-1))) / 2
        return self.outputs(y)

    @property
    def output_name(self) -> str:
        return getattr(self.outputs, "name", "outputs")

    @property
    def raw_shape(self) -> tuple[int, ...]:
        """One sample as the model takes it."""
        return self.inputs.raw_shape

    def takes_sequences(self) -> bool:
        """Whether a sample is a `[T, F]` sequence that reaches the net with its steps as they are."""
        return len(self.raw_shape) == 2 and self.inputs.input_shape == self.raw_shape and self.inputs.permute is None


def user_model(task: Any, datamodule: Any) -> UserModel:
    """The UserModel of a trained task and its DataModule, in eval mode; it shares the task's net."""
    transform = getattr(datamodule, "input_transform", None)
    inputs = transform() if transform is not None else RawInputs(datamodule.input_shape)
    if isinstance(task, Classifier):
        outputs: nn.Module = ClassProbabilities()
    elif isinstance(task, Regressor):
        outputs = TargetUnits(task.target_mean, task.target_std)
    else:
        outputs = nn.Identity()  # a task of the user's own: its outputs as the net gives them
    flip = bool(getattr(task, "tta_flip", False))
    return UserModel(inputs, task.net, outputs, flip_average=flip).eval()


def output_description(task: Any, datamodule: Any, num_outputs: int) -> dict[str, Any]:
    """The output's name and meaning for the metadata; `num_outputs`: the width of the UserModel's output."""
    if isinstance(task, Classifier):
        return {"name": ClassProbabilities.name, "meaning": "the probability of each class, in the order of class_names",
                "class_names": class_labels(datamodule, num_outputs)}
    if isinstance(task, Regressor):
        return {"name": TargetUnits.name, "meaning": "the predicted targets, in the targets' own units"}
    return {"name": "outputs", "meaning": "the net's outputs"}
