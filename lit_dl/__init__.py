"""lit-dl: classic deep-learning architectures, ready to train from one YAML file."""

__version__ = "0.1.0"
