"""The per-step costs lit-dl takes off Lightning's hands: the profiler, the NVML probe, unused hooks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lit_dl.training import speed


@pytest.mark.parametrize(("user_value", "uses_cuda", "now", "after"), [
    (None, False, "1", None),  # the user had none: gone again
    ("0", False, "1", "0"),  # the user's own value back
    (None, True, "1", "1"),  # CUDA caches the answer: Lightning's value stays
    (None, False, "0", "0"),  # not Lightning's value: left alone
    (None, False, None, None),
])
def test_the_users_nvml_check_comes_back_once_the_trainer_has_its_devices(user_value, uses_cuda, now, after, monkeypatch):
    if now is None:
        monkeypatch.delenv(speed.NVML_CHECK, raising=False)
    else:
        monkeypatch.setenv(speed.NVML_CHECK, now)
    speed.restore_cuda_check(user_value, uses_cuda)
    assert speed.os.environ.get(speed.NVML_CHECK) == after


def test_the_profiler_hands_out_one_shared_context_that_does_nothing():
    profiler = speed.NoProfiler()
    with profiler.profile("training_step") as nothing:
        assert nothing is None
    assert profiler.profile("a") is profiler.profile("b")


def test_only_lit_dls_own_callbacks_lose_their_unused_hooks(monkeypatch):
    from lit_dl.training.summary import RunSummary

    skipped = []
    monkeypatch.setattr(speed.internals, "skip_unused_batch_hooks", skipped.append)
    own, users = RunSummary(), type("Mine", (), {"__module__": "my_project.callbacks"})()
    speed.skip_unused_hooks(SimpleNamespace(callbacks=[users, own]))
    assert skipped == [own]
