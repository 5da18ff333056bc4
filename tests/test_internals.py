"""Every function of `lit_dl.internals` against the installed Lightning, torchmetrics,
jsonargparse and wandb: an upgrade that moves one of their internals fails here, by name."""

from __future__ import annotations

import functools

import pytest
import torch

from lit_dl import internals


def fail(function, error) -> None:
    pytest.fail(f"lit_dl.internals.{function.__name__} no longer works with the installed libraries "
                f"(tested: {internals.TESTED}): {type(error).__name__}: {error}")


def checked(function):
    """Run the test; any error names the internals function it exercises."""

    def decorate(test):
        @functools.wraps(test)
        def run(*args, **kwargs):
            try:
                return test(*args, **kwargs)
            except AssertionError:
                raise
            except Exception as error:  # noqa: BLE001
                fail(function, error)
        return run

    return decorate


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A two-epoch fit of Lightning's demo model, with what the loop internals said on the way,
    and a checkpoint it saved."""
    from lightning.pytorch import Callback, Trainer
    from lightning.pytorch.demos.boring_classes import BoringModel

    seen = []

    class Watch(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append((internals.is_last_batch(trainer), internals.batches_started(trainer)))

    model = BoringModel()
    unattached = internals.attached_trainer(model)
    folder = tmp_path_factory.mktemp("fit")
    trainer = Trainer(max_epochs=2, limit_train_batches=3, limit_val_batches=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, callbacks=[Watch()], default_root_dir=folder)
    trainer.fit(model)
    trainer.save_checkpoint(folder / "end.ckpt")
    return {"seen": seen, "model": model, "trainer": trainer, "unattached": unattached,
            "checkpoint": torch.load(folder / "end.ckpt", weights_only=False)}


@checked(internals.is_last_batch)
def test_is_last_batch(fitted):
    assert [last for last, _ in fitted["seen"]] == [False, False, True] * 2


@checked(internals.batches_started)
def test_batches_started(fitted):
    assert [started for _, started in fitted["seen"]] == [1, 2, 3, 4, 5, 6]


@checked(internals.skip_per_step_stop_broadcast)
def test_skip_per_step_stop_broadcast():
    import inspect

    from lightning.pytorch import Trainer
    from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop

    # The broadcast this shadows is still made, by that name, from the training batch loop.
    assert "self._broadcast_sigterm_tensor()" in inspect.getsource(_TrainingEpochLoop.advance)
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert internals.skip_per_step_stop_broadcast(trainer)
    assert trainer.fit_loop.epoch_loop._broadcast_sigterm_tensor() is None  # no process group needed: no broadcast


@checked(internals.attached_trainer)
def test_attached_trainer(fitted):
    assert fitted["unattached"] is None and internals.attached_trainer(fitted["model"]) is fitted["trainer"]


@checked(internals.request_stop)
def test_request_stop():
    from lightning.pytorch import Trainer

    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert not trainer.received_sigterm
    assert internals.request_stop(trainer) and trainer.received_sigterm


@checked(internals.saved_epochs_done)
def test_saved_epochs_done(fitted):
    assert internals.saved_epochs_done(fitted["checkpoint"]) == 2
    assert internals.saved_epochs_done({}) is None


@checked(internals.saved_loader_states)
def test_saved_loader_states(fitted):
    assert isinstance(internals.saved_loader_states(fitted["checkpoint"]), list)
    assert "loops" in fitted["checkpoint"] and "fit_loop" in fitted["checkpoint"]["loops"]


@checked(internals.subcommand_parser)
def test_subcommand_parser():
    from lightning.pytorch.cli import LightningCLI
    from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel

    cli = LightningCLI(BoringModel, BoringDataModule, run=False, args=["--trainer.logger", "false"])
    assert "trainer.max_epochs" in internals.option_names(internals.subcommand_parser(cli, None))


@checked(internals.dump_config_with_init_args)
def test_dump_config_with_init_args():
    from lightning.pytorch.cli import LightningCLI
    from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel

    cli = LightningCLI(BoringModel, BoringDataModule, run=False, args=["--trainer.logger", "false"])
    del cli.config_dump  # built once already, by the instantiation above
    internals.dump_config_with_init_args(cli)
    assert isinstance(cli.config_dump, dict) and "trainer" in cli.config_dump


@checked(internals.wandb_init_arguments)
def test_wandb_logger_internals(tmp_path):
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(save_dir=str(tmp_path), mode="offline", prefix="p", log_model=True, config={"a": 1})
    assert internals.wandb_init_arguments(logger)["config"] == {"a": 1}
    assert internals.logger_prefix(logger) == "p"
    assert internals.wandb_logs_model(logger) is True
    assert internals.wandb_run_started(logger) is False


@checked(internals.averaged_module)
def test_averaged_module():
    from lightning.pytorch.callbacks import WeightAveraging

    assert internals.averaged_module(WeightAveraging()) is None


@checked(internals.restore_update_count)
def test_restore_update_count():
    from torchmetrics import MeanMetric

    metric = MeanMetric()
    internals.restore_update_count(metric, 7)
    assert metric.update_count == 7


@checked(internals.forget_cached_rnn_kernels)
def test_forget_cached_rnn_kernels():
    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input):
        assert isinstance(getattr(op, "_dispatch_cache", None), dict)
    internals.forget_cached_rnn_kernels()
    assert not torch.ops.aten.lstm.input._dispatch_cache


@checked(internals.subcommand_parsers)
def test_parser_internals():
    from jsonargparse import ArgumentParser

    parser, child = ArgumentParser(), ArgumentParser()
    child.add_argument("--depth", type=int, default=1)
    parser.add_subcommands().add_subcommand("grow", child)
    assert internals.option_names(internals.subcommand_parsers(parser)["grow"]) == ["help", "depth"]


@checked(internals.unwrap_callable)
def test_unwrap_callable():
    from jsonargparse import ArgumentParser
    from lightning.pytorch.cli import OptimizerCallable

    parser = ArgumentParser()
    parser.add_argument("--optimizer", type=OptimizerCallable)
    parsed = parser.instantiate_classes(parser.parse_args(["--optimizer", "torch.optim.SGD", "--optimizer.lr", "0.5"]))
    keywords, target = internals.unwrap_callable(parsed.optimizer)
    assert target is torch.optim.SGD and keywords.get("lr") == 0.5


def test_every_internal_is_listed_and_tested():
    import inspect

    functions = {name for name, value in vars(internals).items() if inspect.isfunction(value) and not name.startswith("_")}
    assert functions == set(internals.PRIVATE_USES)
    tested = open(__file__).read()
    assert all(f"internals.{name}" in tested for name in functions)


@checked(internals.skip_unused_batch_hooks)
def test_skip_unused_batch_hooks():
    from lightning.pytorch import Callback, Trainer
    from lightning.pytorch.demos.boring_classes import BoringModel

    class Counts(Callback):
        def __init__(self):
            self.ends = 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.ends += 1

    counts = Counts()
    skipped = internals.skip_unused_batch_hooks(counts)
    assert "on_train_batch_end" not in skipped and {"on_train_batch_start", "on_before_backward"} <= set(skipped)
    assert counts.on_train_batch_start is None and Counts.on_train_batch_start is Callback.on_train_batch_start
    # Lightning must skip the hooks set to None (calling one would raise) and still call the kept one.
    trainer = Trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, callbacks=[counts])
    trainer.fit(BoringModel())
    trainer.test(BoringModel(), verbose=False)
    assert counts.ends == 3
