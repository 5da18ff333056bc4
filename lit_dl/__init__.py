"""lit-dl: classic deep-learning architectures, ready to train from one YAML file."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_run(path: Any, checkpoint: str = "best") -> Any:
    """A finished run back in Python: its trained task (eval mode) and DataModule, rebuilt from the
    run's config.yaml and its `best` or `last` checkpoint, with `.predict(inputs)` for raw inputs.

    `path` is a run directory (`runs/<experiment>/version_<n>`) or a checkpoint file inside one.
    See `lit_dl.export.load.LoadedRun`. (Imported here on first use: `import lit_dl` stays light.)
    """
    from lit_dl.export.load import load_run as load

    return load(path, checkpoint)
