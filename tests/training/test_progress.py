"""The plain epoch lines: each says how long its epoch took, also the epoch a resume continues."""

from __future__ import annotations

import re
from types import SimpleNamespace

import torch

from lit_dl.training import progress
from lit_dl.training.progress import LineProgressBar, RichBar, TQDMBar
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


def test_the_bars_read_the_loss_at_every_step_when_step_logging_is_off():
    """`log_every_n_steps: 0` (no step logs) is a valid trainer setting: the bar then reads the
    loss at every step rather than dividing by zero."""
    progress = SimpleNamespace(is_last_batch=False)
    trainer = SimpleNamespace(training=True, global_step=3, log_every_n_steps=0,
                              fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))
    assert TQDMBar().reads_now(trainer)


def test_the_training_loss_shown_is_the_last_one_read_where_it_cost_nothing(monkeypatch):
    from lightning.pytorch.callbacks import ProgressBar

    monkeypatch.setattr(ProgressBar, "get_metrics", lambda self, trainer, module: {"v_num": 0})
    def trainer(step: int, loss=None) -> SimpleNamespace:
        progress = SimpleNamespace(is_last_batch=False)
        return SimpleNamespace(training=True, global_step=step, log_every_n_steps=4, callback_metrics={} if loss is None else {"train/loss": loss},
                               fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))

    bar = TQDMBar()
    assert bar.get_metrics(trainer(1, torch.tensor(0.9)), None) == {"v_num": 0}  # not a logging step: not read
    assert bar.get_metrics(trainer(4, torch.tensor(0.5)), None) == {"v_num": 0, "train/loss": 0.5}
    shown = bar.get_metrics(trainer(5, torch.tensor(0.1)), None)
    assert shown == {"v_num": 0, "train/loss": 0.5} and isinstance(shown["train/loss"], float)  # the last read
    assert bar.get_metrics(trainer(8), None) == {"v_num": 0, "train/loss": 0.5}  # nothing logged: kept


def test_the_line_bar_prints_one_sorted_line_an_epoch_on_rank_zero(monkeypatch, capsys):
    from lightning.pytorch.callbacks import ProgressBar

    monkeypatch.setattr(ProgressBar, "get_metrics", lambda self, trainer, module: {"v_num": 3, "val/acc": 0.912345, "val/loss": 1234567.0,
                                                                                   "batches": 12})
    bar = LineProgressBar()
    clock = iter([100.0, 112.34])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    trainer = SimpleNamespace(global_rank=0, current_epoch=1, max_epochs=5, callback_metrics={})
    bar.on_train_epoch_start(trainer, None)
    bar.on_train_epoch_end(trainer, None)
    assert capsys.readouterr().out == "epoch 2/5 (12.3s)  batches 12  val/acc 0.9123  val/loss 1.235e+06\n"

    monkeypatch.setattr(progress.time, "perf_counter", lambda: 0.0)
    for max_epochs in (-1, None, 0):
        bar._print_epoch(SimpleNamespace(global_rank=0, current_epoch=0, max_epochs=max_epochs, callback_metrics={}), None)
        assert capsys.readouterr().out.startswith("epoch 1/? (")
    bar._print_epoch(SimpleNamespace(global_rank=1, current_epoch=0, max_epochs=3, callback_metrics={}), None)
    bar.disable()
    bar._print_epoch(trainer, None)
    assert capsys.readouterr().out == ""
    bar.enable()
    bar._print_epoch(trainer, None)
    assert capsys.readouterr().out.startswith("epoch 2/5")


def test_a_mid_epoch_resume_counts_the_time_the_epoch_had_taken_before_it(monkeypatch):
    bar = LineProgressBar()
    monkeypatch.setattr(progress.time, "perf_counter", lambda: 50.0)
    bar.on_train_epoch_start(None, None)
    monkeypatch.setattr(progress.time, "perf_counter", lambda: 57.5)
    checkpoint = {}
    bar.on_save_checkpoint(None, None, checkpoint)
    assert checkpoint == {"lit_dl_epoch_elapsed_s": 7.5}
    resumed = LineProgressBar()
    resumed.on_load_checkpoint(None, None, checkpoint)
    monkeypatch.setattr(progress.time, "perf_counter", lambda: 1000.0)
    resumed.on_train_start(None, None)
    assert resumed._epoch_start == 992.5
    fresh = LineProgressBar()
    fresh.on_load_checkpoint(None, None, {})  # a checkpoint of another bar
    fresh.on_train_start(None, None)
    assert fresh._epoch_start == 1000.0
