"""EMA of the weights (lit_dl.training.EMA on Lightning's WeightAveraging): validation, test and
checkpoints use the average, and a run stopped mid-epoch resumes to the same average."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch

from tests.helpers.paths import QUICKSTART
from lit_dl.errors import UserError
from lit_dl.training import EMA

STEPS_PER_EPOCH, EPOCHS = 8, 3
EMA_RUN = [
    "--trainer.max_epochs", str(EPOCHS),
    "--data.init_args.n_train", str(64 * STEPS_PER_EPOCH),
    "--data.init_args.n_val", "128",
    "--data.init_args.n_test", "128",
    "--model.init_args.net.init_args.dropout", "0.2",  # random draws, so the RNG states matter
    "--trainer.log_every_n_steps", "1",
    "--trainer.callbacks+=lit_dl.training.EMA",
    "--trainer.callbacks.decay", "0.8",
]


class InterruptAtStep(pl.Callback):
    """Ctrl-C in this process once `step` optimizer steps are done, mid-epoch."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def fit(lit_dl, root: Path, *extra: str) -> tuple[int, str, str]:
    return lit_dl("fit", "--config", QUICKSTART, "--trainer.default_root_dir", root, *EMA_RUN, *extra)


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_checkpoints_hold_the_average_and_evaluation_uses_it(lit_dl, tmp_path):
    code, out, err = fit(lit_dl, tmp_path)
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])
    last = load(run_dir / "checkpoints" / "last.ckpt")
    assert last["global_step"] == STEPS_PER_EPOCH * EPOCHS
    # The average is the checkpoint's state_dict; the raw weights ride along for a resume.
    assert last["averaging_state"]["n_averaged"] == last["global_step"]
    raw, average = last["current_model_state"], last["state_dict"]
    assert raw.keys() == average.keys()
    assert any(not torch.equal(raw[k], average[k]) for k in raw if raw[k].is_floating_point())

    # `lit-dl test` on the best checkpoint reproduces the test after fit: both use the average.
    results = json.loads((run_dir / "results.json").read_text())
    code, out, err = lit_dl(
        "test", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *EMA_RUN,
        "--ckpt_path", results["best_checkpoint"],
    )
    assert code == 0, err
    after = json.loads((run_dir / "results.json").read_text())
    tested = after["evaluations"][-1]["metrics"] if after.get("evaluations") else after["test"]
    assert tested == pytest.approx(results["test"])


def test_stopped_run_resumes_to_the_same_average(lit_dl, tmp_path):
    code, _, err = fit(lit_dl, tmp_path / "whole")
    assert code == 0, err
    reference = tmp_path / "whole" / "quickstart" / "version_0"

    stop = [f"--trainer.callbacks+={InterruptAtStep.__module__}.InterruptAtStep", "--trainer.callbacks.step", "13"]
    code, _, err = fit(lit_dl, tmp_path / "stopped", *stop)
    assert code == 128 + signal.SIGINT, err
    run_dir = tmp_path / "stopped" / "quickstart" / "version_0"
    assert load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 13  # mid-epoch 2
    code, _, err = lit_dl("fit", "--config", run_dir / "config.yaml", "--ckpt_path", run_dir / "checkpoints" / "last.ckpt")
    assert code == 0, err

    expected, got = load(reference / "checkpoints" / "last.ckpt"), load(run_dir / "checkpoints" / "last.ckpt")
    for key in ("state_dict", "current_model_state", "averaging_state"):
        different = [name for name in expected[key] if not torch.equal(expected[key][name], got[key][name])]
        assert not different, f"{key} differs after resume: {different}"
    results = [json.loads((d / "results.json").read_text()) for d in (reference, run_dir)]
    assert results[0]["val"] == results[1]["val"] and results[0]["test"] == results[1]["test"]
    assert (run_dir / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()


def test_the_averaged_model_is_a_copy_of_the_task_from_the_fits_setup():
    from lit_dl.nets import MLP
    from lit_dl.tasks import Classifier

    ema, task = EMA(decay=0.9), Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3)
    assert ema.averaged_model is None  # before fit
    ema.setup(SimpleNamespace(), task, "fit")  # a stand-in trainer: WeightAveraging's setup reads none of it
    averaged = ema.averaged_model
    assert type(averaged) is Classifier and averaged is not task
    assert all(torch.equal(a, b) for a, b in zip(averaged.parameters(), task.parameters()))


def test_updates_follow_start_step_and_every_n_steps():
    ema = EMA(decay=0.9, start_step=4, every_n_steps=3)
    assert [step for step in range(12) if ema.should_update(step_idx=step)] == [4, 7, 10]
    assert not ema.should_update(epoch_idx=0)


@pytest.mark.parametrize(("start_step", "fails"), [(9, False), (10, True), (11, True)])
def test_a_start_step_at_or_after_the_runs_last_step_is_a_user_error(start_step, fails, monkeypatch):
    """A run of 10 optimizer steps updates at steps 0-9: an average starting at step 10 would
    never update, and evaluation would use the untrained weights."""
    from lightning.pytorch.callbacks import WeightAveraging

    started = []
    monkeypatch.setattr(WeightAveraging, "on_fit_start", lambda self, trainer, module: started.append(module))
    ema = EMA(decay=0.9, start_step=start_step)
    trainer = SimpleNamespace(estimated_stepping_batches=10)
    if fails:
        with pytest.raises(UserError, match=f"start_step {start_step} is at or after the end of the run \\(10 optimizer steps\\)"):
            ema.on_fit_start(trainer, "module")
    else:
        ema.on_fit_start(trainer, "module")
    assert started == ([] if fails else ["module"])


@pytest.mark.parametrize("kwargs", [dict(decay=1.0), dict(decay=0.0), dict(every_n_steps=0), dict(start_step=-1)])
def test_bad_settings_are_user_errors(kwargs):
    with pytest.raises(UserError, match="EMA: "):
        EMA(**kwargs)
