"""Autograd against the NumPy network's hand-written backpropagation (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lit_dl.errors import UserError
from lit_dl.reference import TwoLayerNet

TORCH_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def make_batch(loss: str, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(7, 5))
    y = rng.integers(0, 3, size=7) if loss == "cross_entropy" else rng.normal(size=(7, 3))
    return x, y


def autograd_loss_and_grads(net: TwoLayerNet, x: np.ndarray, y: np.ndarray):
    params = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True) for name, value in net.params.items()}
    hidden = TORCH_ACTIVATIONS[net.activation](torch.from_numpy(x) @ params["W1"] + params["b1"])
    out = hidden @ params["W2"] + params["b2"]
    if net.loss == "cross_entropy":
        loss = torch.nn.functional.cross_entropy(out, torch.from_numpy(y))
    else:
        loss = torch.nn.functional.mse_loss(out, torch.from_numpy(y))
    loss.backward()
    return loss.item(), {name: p.grad.numpy() for name, p in params.items()}


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_hand_written_gradients_match_autograd(activation, loss):
    net = TwoLayerNet(5, 6, 3, activation=activation, loss=loss, seed=0)
    x, y = make_batch(loss)
    value, grads = net.loss_and_grads(x, y)
    expected_value, expected_grads = autograd_loss_and_grads(net, x, y)
    assert value == pytest.approx(expected_value, abs=1e-6)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        assert grad.shape == net.params[name].shape
        np.testing.assert_allclose(grad, expected_grads[name], atol=1e-6, rtol=0, err_msg=name)


def test_gradients_match_finite_differences():
    net = TwoLayerNet(5, 6, 3, activation="tanh", seed=2)
    x, y = make_batch("cross_entropy")
    _, grads = net.loss_and_grads(x, y)
    step = 1e-6
    for name, param in net.params.items():
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            original = param[index]
            param[index] = original + step
            plus = net.loss_value(net.forward(x), y)
            param[index] = original - step
            minus = net.loss_value(net.forward(x), y)
            param[index] = original
            numeric[index] = (plus - minus) / (2 * step)
        np.testing.assert_allclose(grads[name], numeric, atol=1e-6, err_msg=name)


def test_gradient_descent_learns():
    net = TwoLayerNet(5, 16, 3, activation="relu", seed=0)
    x, y = make_batch("cross_entropy")
    first = net.sgd_step(x, y, lr=0.5)
    for _ in range(200):
        last = net.sgd_step(x, y, lr=0.5)
    assert last < first / 4


def test_unknown_names_raise_user_errors():
    with pytest.raises(UserError, match="activation"):
        TwoLayerNet(2, 2, 2, activation="gelu")
    with pytest.raises(UserError, match="loss"):
        TwoLayerNet(2, 2, 2, loss="hinge")
