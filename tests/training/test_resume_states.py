"""ExactResume's pieces on stand-in trainers: what a checkpoint gets, what a resume puts back
(tests/training/test_resume.py kills and resumes real fits)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from lit_dl.tasks.classifier import Accuracy
from lit_dl.training import resume
from lit_dl.training.csv_logger import RunCSVLogger
from lit_dl.training.resume import ExactResume


class Module(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.acc = Accuracy()
        self.linear = nn.Linear(1, 1)


def trainer(step: int = 7, last_batch: bool = False, world_size: int = 1, rank: int = 0, loggers=()) -> SimpleNamespace:
    progress = SimpleNamespace(is_last_batch=last_batch)
    return SimpleNamespace(global_step=step, world_size=world_size, global_rank=rank, loggers=list(loggers), train_dataloader=None,
                           fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))


def test_a_mid_epoch_checkpoint_holds_the_rngs_the_metrics_and_the_step():
    module = Module()
    module.acc.update(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 1]))
    callback, checkpoint = ExactResume(), {}
    callback.on_save_checkpoint(trainer(7), module, checkpoint)
    saved = checkpoint["callbacks"][callback.state_key]
    assert saved["step"] == 7 and saved["metrics_of_ranks"] is None and set(saved["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert saved["metrics"]["acc"]["updates"] == 1 and saved["metrics"]["acc"]["states"]["correct"].item() == 2
    at_epoch_end = {}
    callback.on_save_checkpoint(trainer(8, last_batch=True), module, at_epoch_end)  # the metrics are about to be reset
    assert at_epoch_end["callbacks"][callback.state_key]["metrics"] == {}


def test_a_resume_puts_back_the_metrics_and_the_random_numbers_to_come():
    module = Module()
    module.acc.update(torch.tensor([1, 0, 1, 1]), torch.tensor([1, 1, 1, 1]))
    callback, checkpoint = ExactResume(), {}
    callback.on_save_checkpoint(trainer(), module, checkpoint)
    expected = (torch.rand(3), np.random.rand(), random.random())
    resumed, fresh = ExactResume(), Module()
    resumed.on_load_checkpoint(trainer(), fresh, checkpoint)
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    resumed.on_train_start(trainer(), fresh)
    assert torch.equal(torch.rand(3), expected[0]) and np.random.rand() == expected[1] and random.random() == expected[2]
    assert fresh.acc.compute().item() == 0.75 and fresh.acc.update_count == 1
    assert resumed._saved == {}  # used once


def test_each_rank_gets_back_its_own_metrics():
    per_rank = [{"acc": {"states": {"correct": torch.tensor(r), "total": torch.tensor(4)}, "updates": 1}} for r in (1, 3)]
    callback = ExactResume()
    callback._saved = {"metrics": per_rank[0], "metrics_of_ranks": per_rank}
    module = Module()
    callback.on_train_start(trainer(world_size=2, rank=1), module)
    assert module.acc.compute().item() == 0.75
    callback._saved = {"metrics": per_rank[0], "metrics_of_ranks": per_rank}  # saved by 2 ranks, resumed on 3: rank zero's
    module = Module()
    callback.on_train_start(trainer(world_size=3, rank=2), module)
    assert module.acc.compute().item() == 0.25


def test_under_ddp_every_ranks_metric_states_are_gathered(monkeypatch):
    module = Module()
    monkeypatch.setattr(resume.torch.distributed, "is_initialized", lambda: True)

    def gather(every, own):
        every[:] = [own, {"acc": "of rank 1"}]

    monkeypatch.setattr(resume.torch.distributed, "all_gather_object", gather)
    gathered = resume._metric_states_of_ranks(trainer(world_size=2), module)
    assert len(gathered) == 2 and gathered[1] == {"acc": "of rank 1"} and set(gathered[0]) == {"acc"}
    assert resume._metric_states_of_ranks(trainer(world_size=1), module)[0].keys() == {"acc"}
    assert resume._metric_states_of_ranks(trainer(world_size=2), nn.Linear(1, 1)) == []


def test_a_ddp_checkpoint_keeps_every_ranks_metrics_and_rank_zeros_for_another_world_size(monkeypatch):
    # Faked: torch.distributed's gather (a real one needs a process group of two ranks; tests/training/test_ddp.py runs one).
    module = Module()
    module.acc.update(torch.tensor([1, 0, 0, 0]), torch.tensor([1, 1, 1, 1]))  # this rank, rank zero: 1 of 4 right
    monkeypatch.setattr(resume.torch.distributed, "is_initialized", lambda: True)
    of_rank_one = {"acc": {"states": {"correct": torch.tensor(3), "total": torch.tensor(4)}, "updates": 1}}
    monkeypatch.setattr(resume.torch.distributed, "all_gather_object", lambda every, own: every.__setitem__(slice(None), [own, of_rank_one]))
    callback, checkpoint = ExactResume(), {}
    callback.on_save_checkpoint(trainer(world_size=2), module, checkpoint)
    saved = checkpoint["callbacks"][callback.state_key]
    assert len(saved["metrics_of_ranks"]) == 2 and saved["metrics_of_ranks"][1] is of_rank_one
    assert saved["metrics"]["acc"]["states"]["correct"].item() == 1  # rank zero's
    monkeypatch.undo()  # resumed without a process group
    resumed, fresh = ExactResume(), Module()
    resumed.on_load_checkpoint(trainer(), fresh, checkpoint)
    resumed.on_train_start(trainer(world_size=1), fresh)  # resumed on one process: rank zero's count goes on
    assert fresh.acc.compute().item() == 0.25


def test_the_rows_logged_after_the_checkpoint_go_and_what_came_before_is_flushed_once(tmp_path):
    logger = RunCSVLogger(tmp_path)
    logger.log_metrics({"train/loss": 0.5}, step=3)
    logger.log_metrics({"train/loss": 0.4}, step=9)
    logger.save()
    callback = ExactResume()
    callback._saved = {"step": 5}
    callback.on_fit_start(trainer(step=0, loggers=[logger, object()]), None)
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["step,train/loss", "3,0.5"]
    fresh = ExactResume()
    fresh.on_fit_start(trainer(step=0, loggers=[logger]), None)  # no checkpoint: from the trainer's step, all rows
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["step,train/loss"]

    logger.log_metrics({"train/loss": 0.3}, step=11)
    callback.on_train_batch_start(trainer(loggers=[logger]), None, None, 0)  # no checkpoint saved: nothing flushed
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["step,train/loss"]
    callback.on_save_checkpoint(trainer(step=11), Module(), {})
    callback.on_train_batch_start(trainer(loggers=[logger]), None, None, 0)
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["step,train/loss", "11,0.3"]
    assert callback._flush_logs is False


def test_the_python_rng_state_of_older_checkpoints_is_a_tuple():
    state = resume._rng_states()
    expected = random.random()
    version, internal, gauss = state["python"]
    resume._set_rng_states({**state, "python": (version, tuple(internal.tolist()), gauss)})
    assert random.random() == expected
