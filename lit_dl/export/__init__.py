"""From a finished run to use: `lit_dl.load_run` (Python) and `lit-dl export` (ONNX, torch.export,
safetensors), both built on `UserModel`, the trained net between the data's preprocessing and the
output's meaning.

- `model.py`   UserModel: raw inputs in, class probabilities or values in the targets' units out
- `load.py`    load_run: a run rebuilt from its config.yaml (by lit-dl's CLI) and checkpoint
- `formats.py` each format's writer and loader, and the one-line error for a missing dependency
- `check.py`   write, load back, compare with the eager model on the run's own test inputs
- `main.py`    the `lit-dl export` command
"""
