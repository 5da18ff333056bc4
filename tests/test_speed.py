"""The per-step shortcuts of lit_dl.speed, the loader and the task change nothing a run sees."""

from __future__ import annotations

import dis
from unittest import mock

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.trainer import call

from lit_dl import speed
from lit_dl.data import TensorBatchLoader
from lit_dl.data import loader as loader_module
from lit_dl.nets import MLP
from lit_dl.tasks import Classifier
from test_tasks import LinearData

HOOKS = sorted(name for name in vars(Callback) if name.startswith("on_") or name in ("setup", "teardown"))


def test_every_hook_of_the_callback_base_class_is_empty():
    # The lean dispatch skips a callback whose hook is inherited from Callback: only right while
    # Lightning keeps those methods empty.
    def empty(*args, **kwargs):
        """A docstring, as Lightning's hooks have."""

    reference = [(i.opname, i.argval) for i in dis.get_instructions(empty)]
    for name in HOOKS:
        assert [(i.opname, i.argval) for i in dis.get_instructions(getattr(Callback, name))] == reference, name


class Recorder(Callback):
    """Overrides every hook and records its name, the module's current hook name and the args."""

    def __init__(self, calls: list) -> None:
        self.calls = calls
        for name in HOOKS:
            setattr(self, name, self._recorder(name))

    def _recorder(self, name):
        def record(trainer, pl_module, *args, **kwargs):
            described = [type(a).__name__ for a in args] + sorted(kwargs)
            self.calls.append((name, pl_module._current_fx_name, *described))

        return record


class RecordingClassifier(Classifier):
    def __init__(self, calls: list, **kwargs) -> None:
        super().__init__(**kwargs)
        self.calls = calls

    def on_before_backward(self, loss):
        self.calls.append(("module.on_before_backward", self._current_fx_name))

    def on_before_zero_grad(self, optimizer):
        self.calls.append(("module.on_before_zero_grad", self._current_fx_name))


class Quiet(Callback):
    """Inherits every hook: the lean dispatch skips it, Lightning calls its empty methods."""


def _hook_calls(profiler) -> list:
    calls: list = []
    torch.manual_seed(0)
    data = LinearData("binary", n=96)
    task = RecordingClassifier(calls, net=MLP(data.input_shape, 2, hidden_dims=[8]), num_outputs=2)
    trainer = pl.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[Quiet(), Recorder(calls)], profiler=profiler,
        accelerator="cpu", devices=1,
    )
    trainer.fit(task, data)
    trainer.validate(task, data, verbose=False)
    return calls


def test_lean_dispatch_makes_the_same_hook_calls_as_lightning():
    assert speed.install_lean_hook_dispatch()
    try:
        lightning_calls = _hook_calls(PassThroughProfiler())  # another profiler: Lightning's dispatch
        with mock.patch.object(speed, "_LEAN_DISPATCH", dict(speed._LEAN_DISPATCH)) as originals:
            for name in originals:  # any fallback to Lightning's functions would show here
                originals[name] = mock.Mock(side_effect=AssertionError(f"fell back to {name}"))
            lean_calls = _hook_calls(speed.NoProfiler())
    finally:
        speed.uninstall_lean_hook_dispatch()
    assert len(lean_calls) > 50
    assert lean_calls == lightning_calls


def test_lean_dispatch_is_not_installed_over_unknown_dispatchers():
    speed.uninstall_lean_hook_dispatch()
    with mock.patch.object(call, "_call_strategy_hook", lambda trainer, hook: None):
        assert not speed.install_lean_hook_dispatch()
        assert call._call_callback_hooks is not speed._call_callback_hooks
    assert not speed._LEAN_DISPATCH


def _reference_batches(x, y, batch_size, seed, epoch):
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + epoch))
    return [(x[i], y[i]) for i in order.split(batch_size)]


def test_block_gathered_batches_equal_batch_by_batch_indexing(monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_BATCHES_PER_BLOCK", 3)  # several blocks, a short last one
    x, y = torch.randn(50, 2, 3), torch.arange(50)
    loader = TensorBatchLoader((x, y), batch_size=7, shuffle=True, seed=5)
    for epoch in range(2):
        batches = list(loader)
        reference = _reference_batches(x, y, 7, seed=5, epoch=epoch)
        assert len(batches) == len(reference) == len(loader) == 8
        for (bx, by), (rx, ry) in zip(batches, reference):
            assert torch.equal(bx, rx) and torch.equal(by, ry)


def test_resuming_inside_a_block_continues_with_the_next_batch(monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_BATCHES_PER_BLOCK", 3)
    x, y = torch.randn(50, 4), torch.arange(50)
    loader = TensorBatchLoader((x, y), batch_size=7, shuffle=True, seed=1)
    loader.load_state_dict({"epoch": 0, "batches_done": 4})  # one batch into the second block
    reference = _reference_batches(x, y, 7, seed=1, epoch=0)[4:]
    batches = list(loader)
    assert [b[1].tolist() for b in batches] == [r[1].tolist() for r in reference]
    assert loader.state_dict() == {"epoch": 0, "batches_done": 8}


def test_zero_grad_sets_every_gradient_to_none_or_defers_to_a_custom_optimizer():
    task = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3)
    optimizer = task.build_optimizer()
    task(torch.randn(5, 4)).sum().backward()
    task.optimizer_zero_grad(0, 0, optimizer)
    assert all(p.grad is None for p in task.parameters())

    class OwnZeroGrad(torch.optim.SGD):
        zero_grad = mock.Mock()

    own = OwnZeroGrad(task.parameters(), lr=0.1)
    task.optimizer_zero_grad(0, 0, own)
    own.zero_grad.assert_called_once()


def test_batches_already_on_the_device_are_passed_through_unchanged():
    task = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3)
    batch = (torch.randn(2, 4), torch.tensor([0, 1]))
    assert task.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    nested = {"x": torch.randn(2, 4)}
    assert torch.equal(task.transfer_batch_to_device(nested, torch.device("cpu"), 0)["x"], nested["x"])


@pytest.fixture(autouse=True)
def _restore_dispatch():
    installed = bool(speed._LEAN_DISPATCH)
    yield
    if installed:
        speed.install_lean_hook_dispatch()


def test_channels_last_is_the_default_for_nets_with_convolutions():
    from lit_dl.nets import SimpleCNN

    cnn = Classifier(SimpleCNN((3, 8, 8), 4, channels=[4, 8], hidden_dim=8), num_outputs=4)
    assert cnn.channels_last
    assert cnn.net.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.randn(2, 3, 8, 8)
    inputs, _ = cnn._split((images, torch.tensor([0, 1])))
    assert inputs[0].is_contiguous(memory_format=torch.channels_last)
    assert not Classifier(MLP((4,), 3), num_outputs=3).channels_last
    assert not Classifier(SimpleCNN((3, 8, 8), 4, channels=[4, 8], hidden_dim=8), num_outputs=4, channels_last=False).channels_last
