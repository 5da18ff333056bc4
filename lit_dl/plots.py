"""Figures built from lit-dl's parts. matplotlib is imported inside each function, so importing
this module stays cheap and never needs a display."""

from __future__ import annotations

from pathlib import Path


def plot_activations(path: str | Path) -> Path:
    """Draw every activation `lit_dl.nets.layers.activation` knows, with its derivative
    (computed by autograd, so it shows what backprop really uses), on one figure saved to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from lit_dl.nets.layers import ACTIVATION_NAMES, activation

    names = [name for name in ACTIVATION_NAMES if name != "swish"]  # swish is silu under another name
    x = torch.linspace(-5, 5, 401, requires_grad=True)
    columns = 3
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        y = activation(name)(x)
        (slope,) = torch.autograd.grad(y.sum(), x)  # elementwise, so d(sum)/dx_i = f'(x_i)
        ax.plot(x.detach(), y.detach(), label="f(x)")
        ax.plot(x.detach(), slope, "--", label="f'(x)")
        ax.axhline(0, color="k", lw=0.5, alpha=0.4)
        ax.axvline(0, color="k", lw=0.5, alpha=0.4)
        ax.set_title("silu (swish)" if name == "silu" else name)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].legend(loc="upper left")
    figure.suptitle("Activations and their derivatives")
    figure.tight_layout()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
