"""The Trainer arguments lit-dl adds to a configured trainer section."""

from __future__ import annotations

import pytest

from lit_dl.training import defaults
from lit_dl.training.checkpoint_io import AtomicCheckpointIO
from lit_dl.training.defaults import RunDefaults


@pytest.mark.parametrize(("trainer", "atomic"), [({}, True), ({"strategy": "ddp"}, True), ({"strategy": "deepspeed_stage_2"}, False),
                                                 ({"accelerator": "tpu"}, False)])
def test_atomic_checkpoint_writes_except_where_the_strategy_writes_its_own(trainer, atomic, tmp_path):
    """DeepSpeed and XLA save checkpoints their own way: a torch.save plugin would break them."""
    arguments = RunDefaults().trainer_arguments(trainer, run_dir=tmp_path / "run", checkpoint=None, logger_specs=None,
                                                config_text=lambda: "")
    assert any(isinstance(p, AtomicCheckpointIO) for p in arguments["plugins"] or []) is atomic


def test_no_profiler_unless_one_is_configured(tmp_path):
    """Lightning's default profiler object still costs a call per hook; lit-dl passes one that does nothing."""
    arguments = lambda trainer: RunDefaults().trainer_arguments(trainer, run_dir=tmp_path / "run", checkpoint=None,  # noqa: E731
                                                                logger_specs=None, config_text=lambda: "")
    assert isinstance(arguments({})["profiler"], defaults.NoProfiler)
    assert "profiler" not in arguments({"profiler": "simple"})


def test_a_terminal_without_a_working_rich_gets_the_tqdm_bar(monkeypatch):
    def broken_rich():
        raise ImportError("cannot import name 'Console' from partially initialised module 'rich'")

    monkeypatch.setattr(defaults.sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(defaults, "RichBar", broken_rich)
    assert isinstance(defaults._progress_bar(), defaults.TQDMBar)
