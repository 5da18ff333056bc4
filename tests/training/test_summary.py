"""The run summary's data line, on a stand-in trainer (tests/cli/test_console.py reads it whole)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lit_dl.training.summary import _data


@pytest.mark.parametrize(("accumulate", "ends"), [(1, "10 batches of 10 an epoch"), (4, "10 batches of 10 an epoch, 4 per optimizer step")])
def test_the_data_line_counts_samples_batches_and_accumulation(accumulate, ends):
    loader = lambda n: SimpleNamespace(dataset=range(n), batch_size=10)  # noqa: E731
    trainer = SimpleNamespace(datamodule=None, train_dataloader=loader(100), val_dataloaders=[loader(20)], num_training_batches=10,
                              accumulate_grad_batches=accumulate)
    assert _data(trainer) == f"data, 100 train / 20 val samples, {ends}"
