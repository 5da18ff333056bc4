"""The Trainer arguments lit-dl adds to a configured trainer section."""

from __future__ import annotations

import pytest

from lit_dl.training import defaults
from lit_dl.training.checkpoint_io import AtomicCheckpointIO
from lit_dl.training.defaults import RunDefaults
from tests.helpers.typed import typed_tree


@pytest.mark.parametrize(("trainer", "atomic"), [({}, True), ({"strategy": "ddp"}, True), ({"strategy": "deepspeed_stage_2"}, False),
                                                 ({"accelerator": "tpu"}, False)])
def test_atomic_checkpoint_writes_except_where_the_strategy_writes_its_own(trainer, atomic, tmp_path):
    """DeepSpeed and XLA save checkpoints their own way: a torch.save plugin would break them."""
    arguments = RunDefaults().trainer_arguments(typed_tree(trainer), run_dir=tmp_path / "run", checkpoint=None, logger_specs=None,
                                                config_text=lambda: "")
    assert any(isinstance(p, AtomicCheckpointIO) for p in arguments["plugins"] or []) is atomic


def test_no_profiler_unless_one_is_configured(tmp_path):
    """Lightning's default profiler object still costs a call per hook; lit-dl passes one that does nothing."""
    arguments = lambda trainer: RunDefaults().trainer_arguments(typed_tree(trainer), run_dir=tmp_path / "run", checkpoint=None,  # noqa: E731
                                                                logger_specs=None, config_text=lambda: "")
    assert isinstance(arguments({})["profiler"], defaults.NoProfiler)
    assert "profiler" not in arguments({"profiler": "simple"})


def test_a_terminal_without_a_working_rich_gets_the_tqdm_bar(monkeypatch):
    def broken_rich():
        raise ImportError("cannot import name 'Console' from partially initialised module 'rich'")

    monkeypatch.setattr(defaults.sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(defaults, "RichBar", broken_rich)
    assert isinstance(defaults._progress_bar(), defaults.TQDMBar)


def test_every_default_callback_is_on_unless_the_config_turns_it_off_or_brings_its_own():
    from lightning.pytorch.callbacks import LearningRateMonitor

    from lit_dl.training.defaults import (ExactResume, GradientNormMonitor, PeriodicCheckpoint, RunSummary, StepLearningRateMonitor,
                                         StopOnNonFiniteLoss, StopOnSignal)

    kinds = lambda callbacks: [type(c) for c in callbacks]  # noqa: E731
    every = [StepLearningRateMonitor, GradientNormMonitor, defaults.LineProgressBar, RunSummary, ExactResume, StopOnSignal,
             StopOnNonFiniteLoss, PeriodicCheckpoint]
    assert kinds(RunDefaults().callbacks([])) == every  # pytest's stdout is not a terminal: the line progress bar
    assert RunDefaults().callbacks([])[-1].every_n_train_steps == 1000
    assert kinds(RunDefaults().callbacks([], progress_bar_enabled=False)) == [k for k in every if k is not defaults.LineProgressBar]
    for entry, kind in [("lr_monitor", StepLearningRateMonitor), ("grad_norm", GradientNormMonitor), ("progress", defaults.LineProgressBar),
                        ("summary", RunSummary), ("exact_resume", ExactResume), ("stop_on_signal", StopOnSignal),
                        ("stop_on_nan", StopOnNonFiniteLoss), ("checkpoint_every_n_steps", PeriodicCheckpoint)]:
        off = RunDefaults(**{entry: None if entry == "checkpoint_every_n_steps" else False})
        assert kinds(off.callbacks([])) == [k for k in every if k is not kind], entry
    own = [LearningRateMonitor(), GradientNormMonitor(per_layer=True)]
    assert kinds(RunDefaults().callbacks(own)) == every[2:]  # the configured ones are kept, not doubled


def test_the_trainer_arguments_keep_the_configured_callbacks_first_and_add_the_csv_logger(tmp_path):
    from lit_dl.training.defaults import RunCSVLogger, RunSummary

    mine = RunSummary()
    arguments = RunDefaults().trainer_arguments({"callbacks": [mine], "enable_progress_bar": False}, run_dir=tmp_path / "run",
                                                checkpoint=None, logger_specs=None, config_text=lambda: "")
    assert arguments["callbacks"][0] is mine and sum(isinstance(c, RunSummary) for c in arguments["callbacks"]) == 1
    assert not any(isinstance(c, defaults.ProgressBar) for c in arguments["callbacks"])
    assert [type(logger) for logger in arguments["logger"]] == [RunCSVLogger]
    assert arguments["enable_model_summary"] is False
    assert "enable_model_summary" not in RunDefaults().trainer_arguments({"enable_model_summary": True}, run_dir=tmp_path / "run",
                                                                         checkpoint=None, logger_specs=None, config_text=lambda: "")
    evaluation = RunDefaults().trainer_arguments({}, run_dir=tmp_path / "run", checkpoint=None, logger_specs=None, config_text=lambda: "",
                                                 training=False)
    assert evaluation["logger"] == []  # an evaluation writes no metrics.csv


@pytest.mark.parametrize(("trainer", "kept"), [({"sync_batchnorm": True, "accelerator": "cpu"}, False),
                                               ({"sync_batchnorm": True, "accelerator": "gpu"}, None), ({}, None)])
def test_sync_batchnorm_is_turned_off_on_cpus_only(trainer, kept, tmp_path):
    arguments = RunDefaults().trainer_arguments(typed_tree(trainer), run_dir=tmp_path / "run", checkpoint=None, logger_specs=None, config_text=lambda: "")
    assert arguments.get("sync_batchnorm") is kept


def test_slurm_jobs_get_lightnings_slurm_environment_without_its_requeue(monkeypatch):
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    monkeypatch.setattr(defaults, "_slurm_chosen", lambda: True)
    plugins = RunDefaults().plugins([], "cpu", "auto")
    slurm = [p for p in plugins if isinstance(p, SLURMEnvironment)]
    assert len(slurm) == 1 and slurm[0].auto_requeue is False
    assert not any(isinstance(p, SLURMEnvironment) for p in RunDefaults(stop_on_signal=False).plugins([], "cpu", "auto"))
    mine = SLURMEnvironment(auto_requeue=True)
    assert RunDefaults().plugins([mine], "cpu", "auto")[0] is mine and len(RunDefaults().plugins([mine], "cpu", "auto")) == 2
    assert not any(isinstance(p, AtomicCheckpointIO) for p in RunDefaults(atomic_checkpoints=False).plugins([], "cpu", "auto"))
    monkeypatch.setattr(defaults, "_slurm_chosen", lambda: False)
    assert [type(p) for p in RunDefaults().plugins([], "cpu", "auto")] == [AtomicCheckpointIO]


@pytest.mark.parametrize(("elastic", "slurm", "chosen"), [(False, True, True), (True, True, False), (False, False, False),
                                                        (True, False, False)])
def test_the_slurm_environment_is_added_only_where_lightning_would_pick_slurm(elastic, slurm, chosen, monkeypatch):
    """Lightning detects TorchElastic (torchrun) before SLURM: a torchrun inside a SLURM job gets no
    SLURM environment from lit-dl, which would override torchrun's ranks."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    monkeypatch.setattr(TorchElasticEnvironment, "detect", staticmethod(lambda: elastic))
    monkeypatch.setattr(SLURMEnvironment, "detect", staticmethod(lambda: slurm))
    added = any(isinstance(p, SLURMEnvironment) for p in RunDefaults().plugins([], "cpu", "auto"))
    assert added is chosen


@pytest.mark.parametrize(("accelerator", "cuda", "on"), [("gpu", False, True), ("cuda", False, True), ("cpu", True, False),
                                                          ("auto", True, True), ("auto", False, False), (None, True, True)])
def test_on_cuda_follows_the_accelerator_and_auto_the_machine(accelerator, cuda, on, monkeypatch):
    monkeypatch.setattr(defaults.torch.cuda, "is_available", lambda: cuda)
    assert defaults._on_cuda(typed_tree(accelerator)) is on  # as the config file gives it


def test_as_list():
    assert (defaults._as_list(None), defaults._as_list(3), defaults._as_list((1, 2)), defaults._as_list([1])) == ([], [3], [1, 2], [1])


def test_one_logger_configured_alone_is_kept_after_the_runs_csv_logger(tmp_path):
    """`trainer.logger` may name one logger (a mapping, not a list), or say true, false or nothing."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from lit_dl.training.csv_logger import RunCSVLogger

    run_dir = tmp_path / "exp" / "version_0"
    mine = TensorBoardLogger(tmp_path / "tb")  # built in Python (no parsed spec): kept as it is
    one = RunDefaults.loggers(mine, None, run_dir, config_text=lambda: "")
    assert [type(logger) for logger in one] == [RunCSVLogger, TensorBoardLogger] and one[1] is mine and one[0].log_dir == str(run_dir)
    for configured in (None, True, False):
        assert [type(logger) for logger in RunDefaults.loggers(configured, None, run_dir, config_text=lambda: "")] == [RunCSVLogger]
    assert RunDefaults.loggers(mine, None, run_dir, config_text=lambda: "", with_csv=False) == [mine]
