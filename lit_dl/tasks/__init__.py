"""Generic LightningModules: each trains any `torch.nn.Module` handed to it as `net`."""

from lit_dl.tasks.base import Task
from lit_dl.tasks.classifier import Classifier
from lit_dl.tasks.regressor import Regressor
from lit_dl.tasks.supervised import Supervised

__all__ = ["Task", "Classifier", "Regressor", "Supervised"]
