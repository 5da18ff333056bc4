"""The Trainer arguments lit-dl adds to a configured trainer section."""

from __future__ import annotations

import pytest

from lit_dl.training.checkpoint_io import AtomicCheckpointIO
from lit_dl.training.defaults import RunDefaults


@pytest.mark.parametrize(("trainer", "atomic"), [({}, True), ({"strategy": "ddp"}, True), ({"strategy": "deepspeed_stage_2"}, False),
                                                 ({"accelerator": "tpu"}, False)])
def test_atomic_checkpoint_writes_except_where_the_strategy_writes_its_own(trainer, atomic, tmp_path):
    """DeepSpeed and XLA save checkpoints their own way: a torch.save plugin would break them."""
    arguments = RunDefaults().trainer_arguments(trainer, run_dir=tmp_path / "run", checkpoint=None, logger_specs=None,
                                                config_text=lambda: "")
    assert any(isinstance(p, AtomicCheckpointIO) for p in arguments["plugins"] or []) is atomic
