"""A two-layer network in plain NumPy with hand-written backpropagation.

It is the ground truth that `tests/test_reference.py` holds autograd against, and a readable
account of what `loss.backward()` computes for an MLP.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from lit_dl.errors import UserError


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # same as 1 / (1 + exp(-z)), without overflow


# Each activation with its derivative written in terms of (pre-activation z, output a).
_ACTIVATIONS = {
    "sigmoid": (_sigmoid, lambda z, a: a * (1.0 - a)),
    "tanh": (np.tanh, lambda z, a: 1.0 - a**2),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(z.dtype)),
}


class TwoLayerNet:
    """x -> W1, b1 -> activation -> W2, b2 -> output, trained on a mean loss over the batch.

    loss "cross_entropy": the output are logits, the targets integer classes (softmax + NLL).
    loss "mse": the output are predictions, the targets floats of shape (B, output_dim).
    Weights are stored as (in, out) matrices, so a layer is `x @ W + b`.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        activation: Literal["sigmoid", "tanh", "relu"] = "tanh",
        loss: Literal["cross_entropy", "mse"] = "cross_entropy",
        seed: int = 0,
    ) -> None:
        if activation not in _ACTIVATIONS:
            raise UserError(f"unknown activation {activation!r}; choose one of: {', '.join(_ACTIVATIONS)}")
        if loss not in ("cross_entropy", "mse"):
            raise UserError(f"unknown loss {loss!r}; choose 'cross_entropy' or 'mse'")
        rng = np.random.default_rng(seed)
        # Xavier-style scale keeps the hidden pre-activations around unit variance.
        self.params = {
            "W1": rng.normal(0.0, 1.0 / np.sqrt(input_dim), (input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "W2": rng.normal(0.0, 1.0 / np.sqrt(hidden_dim), (hidden_dim, output_dim)),
            "b2": np.zeros(output_dim),
        }
        self.activation = activation
        self.loss = loss
        self._cache: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(B, input_dim) -> (B, output_dim); keeps what backward needs."""
        act, _ = _ACTIVATIONS[self.activation]
        p = self.params
        z1 = x @ p["W1"] + p["b1"]
        a1 = act(z1)
        out = a1 @ p["W2"] + p["b2"]
        self._cache = {"x": x, "z1": z1, "a1": a1, "out": out}
        return out

    def loss_value(self, out: np.ndarray, y: np.ndarray) -> float:
        if self.loss == "mse":
            return float(np.mean((out - y) ** 2))
        shifted = out - out.max(axis=1, keepdims=True)  # softmax is shift-invariant; avoids overflow
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(y)), y].mean())

    def backward(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the mean loss w.r.t. every parameter, after `forward` on the same batch."""
        x, z1, a1, out = (self._cache[k] for k in ("x", "z1", "a1", "out"))
        batch = x.shape[0]
        if self.loss == "mse":
            d_out = 2.0 * (out - y) / out.size
        else:
            # d(mean NLL of softmax)/d(logits) = (softmax - one_hot) / B
            probs = np.exp(out - out.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            probs[np.arange(batch), y] -= 1.0
            d_out = probs / batch
        _, act_grad = _ACTIVATIONS[self.activation]
        d_z1 = (d_out @ self.params["W2"].T) * act_grad(z1, a1)
        return {
            "W1": x.T @ d_z1,
            "b1": d_z1.sum(axis=0),
            "W2": a1.T @ d_out,
            "b2": d_out.sum(axis=0),
        }

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        out = self.forward(x)
        return self.loss_value(out, y), self.backward(y)

    def sgd_step(self, x: np.ndarray, y: np.ndarray, lr: float = 0.1) -> float:
        """One gradient-descent step on the batch; returns the loss before the step."""
        loss, grads = self.loss_and_grads(x, y)
        for name, grad in grads.items():
            self.params[name] -= lr * grad
        return loss
