"""Figures built from lit-dl's parts. matplotlib is imported inside each function, so importing
this module stays cheap and never needs a display."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


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

    return save_figure(figure, path)


# Beyond this many classes the counts no longer fit in their cells; the colours still tell.
MAX_ANNOTATED_CLASSES = 30


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path, title: str = "Test confusion matrix") -> Path:
    """The confusion matrix (rows: true class, columns: predicted class) as a heat map with the
    class labels on both axes and each cell's count written in it, saved to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(matrix, dtype=np.int64)
    size = min(max(4.0, 0.5 * len(labels) + 2), 20)
    figure, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(counts, cmap="Blues", interpolation="nearest")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=45 if max(map(len, labels), default=0) > 3 else 0, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{title} ({counts.sum()} samples)")
    if len(labels) <= MAX_ANNOTATED_CLASSES:
        threshold = counts.max() / 2 if counts.size else 0
        for (row, column), count in np.ndenumerate(counts):
            color = "white" if count > threshold else "black"
            ax.text(column, row, str(count), ha="center", va="center", color=color, fontsize="small")
    figure.tight_layout()
    return save_figure(figure, path)


def save_figure(figure: Any, path: str | Path) -> Path:
    """Write a matplotlib figure to `path` (its folders created) and close it. The file appears
    whole or not at all: a full disk leaves no empty or cut figure behind."""
    import matplotlib.pyplot as plt

    from lit_dl.run.layout import temporary_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_path(path)
    try:
        figure.savefig(partial, dpi=120, format=path.suffix.lstrip(".") or "png")
        os.replace(partial, path)
    finally:
        plt.close(figure)
        partial.unlink(missing_ok=True)
    return path
