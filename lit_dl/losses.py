"""Losses that torch lacks, and the glue that lets an experiment file use torch's own.

Pick a loss by class path; torch's classes are used as they are:

    loss: {class_path: torch.nn.CrossEntropyLoss, init_args: {label_smoothing: 0.1, weight: [1.0, 3.0]}}
    loss: {class_path: torch.nn.BCEWithLogitsLoss, init_args: {pos_weight: [4.0]}}
    loss: torch.nn.NLLLoss | torch.nn.MSELoss | torch.nn.L1Loss | torch.nn.SmoothL1Loss
    loss: {class_path: lit_dl.losses.FocalLoss, init_args: {gamma: 2.0, alpha: [0.25, 0.75]}}
    loss: {class_path: lit_dl.losses.WeightedMSEMAELoss, init_args: {mse_weight: 1.0, mae_weight: 0.1}}

Importing this module teaches jsonargparse to read tensor arguments (class weights, pos_weight)
from YAML lists. Nets return logits; `loss_inputs` adapts logits and targets to what each loss expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from lit_dl.errors import UserError

Reduction = Literal["mean", "sum", "none"]


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., 2017): cross-entropy scaled by (1 - p_t)^gamma, where p_t is the
    probability given to the true class, so easy, well-classified samples count less.

    Works on multi-class logits (B, C) with integer targets (softmax), and on single binary
    logits (B,) or (B, 1) with 0/1 targets (sigmoid).

    Args:
        gamma: focusing strength; 0 gives plain cross-entropy.
        alpha: class weighting. A list gives one weight per class (the weight of each sample's
            true class). A single number: for binary logits, the weight of the positive class,
            with 1 - alpha for the negative one (RetinaNet used 0.25); for multi-class logits,
            a constant factor. None: no weighting.
        reduction: "mean", "sum" or "none" over the samples.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise UserError(f"FocalLoss: gamma must be >= 0, got {gamma}")
        if reduction not in ("mean", "sum", "none"):
            raise UserError(f"FocalLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.gamma = gamma
        self.reduction = reduction
        self.register_buffer("alpha", None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.dim() == 1 or logits.size(-1) == 1:
            return self._binary(logits.reshape(-1), target.reshape(-1).to(logits.dtype))
        return self._multiclass(logits, target)

    def _multiclass(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p_true = logits.log_softmax(dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
        loss = -((1 - log_p_true.exp()) ** self.gamma) * log_p_true
        if self.alpha is not None:
            loss = loss * (self.alpha if self.alpha.dim() == 0 else self.alpha[target])
        return _reduce(loss, self.reduction)

    def _binary(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        cross_entropy = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p_true = torch.exp(-cross_entropy)
        loss = (1 - p_true) ** self.gamma * cross_entropy
        if self.alpha is not None:
            if self.alpha.dim() == 0:
                weight_neg, weight_pos = 1 - self.alpha, self.alpha
            else:
                weight_neg, weight_pos = self.alpha[0], self.alpha[1]
            loss = loss * (weight_pos * target + weight_neg * (1 - target))
        return _reduce(loss, self.reduction)


class WeightedMSEMAELoss(nn.Module):
    """mse_weight * MSE + mae_weight * MAE: squared error's smooth gradients near the target,
    with an absolute-error term that keeps outliers from dominating."""

    def __init__(
        self, mse_weight: float = 1.0, mae_weight: float = 0.1, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if mse_weight < 0 or mae_weight < 0:
            raise UserError(f"WeightedMSEMAELoss: weights must be >= 0, got {mse_weight} and {mae_weight}")
        self.mse_weight = mse_weight
        self.mae_weight = mae_weight
        self.reduction = reduction

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        error = prediction - target
        return _reduce(self.mse_weight * error**2 + self.mae_weight * error.abs(), self.reduction)


REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, WeightedMSEMAELoss)


def loss_inputs(
    loss: nn.Module, output: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adapt a net's raw output and the batch target to what `loss` expects.

    - NLLLoss wants log-probabilities and BCELoss probabilities: the logits are converted.
    - BCE losses want float targets shaped like the output: a single-logit output (B, 1) gets
      (B, 1) targets; a (B, C) output gets one-hot targets.
    - Cross-entropy and NLL need one logit per class: a single-logit net is a config mistake.
    - Regression losses get the target reshaped to the output's shape when only the shape
      differs, because (B,) against (B, 1) would silently broadcast to (B, B).
    """
    if isinstance(loss, (nn.CrossEntropyLoss, nn.NLLLoss)):
        if output.dim() > 1 and output.size(-1) == 1:
            raise UserError(
                f"{type(loss).__name__} needs one output per class but the net gives a single logit; "
                f"use torch.nn.BCEWithLogitsLoss (or lit_dl.losses.FocalLoss) with this net"
            )
        if isinstance(loss, nn.NLLLoss):
            output = output.log_softmax(dim=-1)
        return output, target
    if isinstance(loss, (nn.BCEWithLogitsLoss, nn.BCELoss)):
        if isinstance(loss, nn.BCELoss):
            output = output.sigmoid()
        if target.shape != output.shape:
            if output.dim() > 1 and output.size(-1) > 1 and target.dim() == output.dim() - 1:
                target = F.one_hot(target.long(), output.size(-1))
            target = target.reshape(output.shape)
        return output, target.to(output.dtype)
    same_size = target.shape != output.shape and target.numel() == output.numel()
    if isinstance(loss, REGRESSION_LOSSES) and same_size:
        target = target.reshape(output.shape)
    return output, target


def _teach_jsonargparse_tensors() -> None:
    """Let YAML lists fill `torch.Tensor` arguments such as CrossEntropyLoss(weight=...)."""
    try:
        from jsonargparse.typing import register_type
    except ImportError:  # the nets and losses also work without the CLI's parser
        return
    register_type(
        torch.Tensor,
        serializer=lambda tensor: tensor.tolist(),
        deserializer=lambda value: torch.as_tensor(value, dtype=torch.get_default_dtype()),
    )


_teach_jsonargparse_tensors()
