"""A command leaves the process group it joined before its process exits, and only that one.
Every rank of a real DDP run, under torchrun: tests/training/test_ddp.py."""

from __future__ import annotations

import pytest
import torch.distributed

from lit_dl.training.process_group import has_process_group, leave_process_group
from tests.helpers.paths import QUICKSTART
from tests.helpers.runs import lit_dl_in_process, train

SMALL = ["--trainer.max_epochs", "1", "--data.init_args.n_train", "128", "--data.init_args.n_val", "64", "--data.init_args.n_test", "64"]


@pytest.fixture
def callers_group():
    """A one-process gloo group, as the caller's own distributed program would hold."""
    torch.distributed.init_process_group("gloo", store=torch.distributed.HashStore(), rank=0, world_size=1)
    yield
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def test_leaving_destroys_the_group_and_without_one_does_nothing(callers_group):
    assert has_process_group()

    leave_process_group()
    leave_process_group()

    assert not has_process_group()


def test_a_fit_called_from_a_distributed_program_leaves_the_callers_group_alone(callers_group, tmp_path):
    run_dir = train(tmp_path, QUICKSTART, *SMALL)

    assert has_process_group()
    assert lit_dl_in_process(["check", run_dir])[0] == 0
