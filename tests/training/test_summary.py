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


def test_the_data_line_counts_the_first_of_several_validation_loaders():
    # The line has room for one validation set: the first loader's, the one Lightning validates first.
    loader = lambda n: SimpleNamespace(dataset=range(n), batch_size=10)  # noqa: E731
    trainer = SimpleNamespace(datamodule=None, train_dataloader=loader(100), val_dataloaders=(loader(20), loader(50)), num_training_batches=10,
                              accumulate_grad_batches=1)
    assert _data(trainer) == "data, 100 train / 20 val samples, 10 batches of 10 an epoch"
    trainer.val_dataloaders = []  # no validation loader: no val count
    assert _data(trainer) == "data, 100 train samples, 10 batches of 10 an epoch"


@pytest.mark.parametrize(("processes", "said"), [(1, "cpu, 1 process, precision 32-true"), (2, "cpu, 2 processes, precision 32-true"),
                                                 (8, "cpu, 8 processes, precision 32-true")])
def test_the_device_line_counts_processes(processes, said):
    import torch

    from lit_dl.training.summary import _device

    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")), world_size=processes, precision="32-true")
    assert _device(trainer) == said


def test_the_device_line_names_the_gpu(monkeypatch):
    import torch

    from lit_dl.training.summary import _device

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H100")
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 0)), world_size=1, precision="bf16-mixed")
    assert _device(trainer) == "cuda (NVIDIA H100), 1 process, precision bf16-mixed"


def test_the_data_line_without_sizes_names_the_data_and_its_choices():
    datamodule = type("Arrays", (), {"description": "inputs standardised", "batch_size": 8})()
    trainer = SimpleNamespace(datamodule=datamodule, train_dataloader=SimpleNamespace(batch_size=None), val_dataloaders=None,
                              num_training_batches=float("inf"), accumulate_grad_batches=1)
    assert _data(trainer) == "Arrays (inputs standardised), batches of 8 an epoch"


def test_the_summary_names_the_run_its_frozen_parameters_seed_and_the_checkpoint_it_resumed(tmp_path, monkeypatch):
    import torch

    from lit_dl.nets import MLP
    from lit_dl.tasks import Classifier
    from lit_dl.training.csv_logger import RunCSVLogger
    from lit_dl.training.summary import summary_lines

    task = Classifier(MLP((4,), 3, hidden_dims=[8]), num_outputs=3)  # 4*8+8 + 8*3+3 = 67 parameters
    for parameter in task.net.parameters():
        parameter.requires_grad = parameter.dim() == 1  # the weights frozen (32 + 24), the biases trained
    run_dir = tmp_path / "quickstart" / "version_3"
    loader = SimpleNamespace(dataset=range(100), batch_size=10)
    trainer = SimpleNamespace(loggers=[object(), RunCSVLogger(run_dir)], datamodule=None, train_dataloader=loader, val_dataloaders=None,
                              num_training_batches=10, accumulate_grad_batches=1, world_size=1, precision="32-true",
                              strategy=SimpleNamespace(root_device=torch.device("cpu")), ckpt_path=str(run_dir / "checkpoints" / "last.ckpt"),
                              current_epoch=4, global_step=1234)
    monkeypatch.setenv("PL_GLOBAL_SEED", "7")
    assert summary_lines(trainer, task) == [
        "quickstart (seed 7): Classifier with MLP, 67 parameters (56 frozen)",
        "data: data, 100 train samples, 10 batches of 10 an epoch",
        "device: cpu, 1 process, precision 32-true",
        f"resumed: {run_dir / 'checkpoints' / 'last.ckpt'} at epoch 5, step 1234",
        f"run: {run_dir}",
    ]
    monkeypatch.delenv("PL_GLOBAL_SEED")
    trainer.loggers, trainer.ckpt_path = [], None
    assert summary_lines(trainer, task)[0] == "fit: Classifier with MLP, 67 parameters (56 frozen)"
