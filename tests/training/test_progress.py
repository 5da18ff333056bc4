"""The plain epoch lines: each says how long its epoch took, also the epoch a resume continues."""

from __future__ import annotations

import re
from types import SimpleNamespace

import torch

from lit_dl.training.progress import LineProgressBar, RichBar
from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART


def test_the_epoch_a_mid_epoch_resume_continues_shows_its_true_time(lit_dl, tmp_path):
    base = [
        "fit", "--config", QUICKSTART, *SMALL_QUICKSTART, "--trainer.default_root_dir", tmp_path,
        "--model.init_args.scheduler", "null", "--defaults.checkpoint_every_n_steps", "4",
    ]
    code, _, err = lit_dl(*base, "--trainer.max_steps", "12")  # 8 steps an epoch: stops inside epoch 2
    assert code == 0, err
    last = tmp_path / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=False)
    assert saved["global_step"] == 12
    before = saved[LineProgressBar.ELAPSED_KEY]  # epoch 2 had run this long
    code, out, err = lit_dl(*base, "--ckpt_path", "last")
    assert code == 0, err
    (seconds,) = re.findall(r"^epoch 2/2 \((\d+\.\d)s\)", out, re.MULTILINE)
    # Today's time since the resume plus the time before it; not the time since the machine booted.
    assert before - 0.05 <= float(seconds) < before + 120


def test_the_bars_read_the_training_loss_only_where_it_costs_no_sync():
    """At steps that log (the value is on the host then), at an epoch's last batch, and outside
    training; not at other training steps."""
    def trainer(step: int, training: bool = True, last_batch: bool = False) -> SimpleNamespace:
        progress = SimpleNamespace(is_last_batch=last_batch)
        return SimpleNamespace(training=training, global_step=step, log_every_n_steps=4,
                               fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))

    bar = RichBar()
    assert [bar.reads_now(trainer(step)) for step in (1, 4, 5, 8)] == [False, True, False, True]
    assert bar.reads_now(trainer(5, last_batch=True)) and bar.reads_now(trainer(5, training=False))
