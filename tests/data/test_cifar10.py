"""CIFAR10DataModule on a tiny CIFAR-10 written in the real format (see cifar_files.py)."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.error import URLError

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from tests.helpers.cifar_files import read_images, write_cifar10
from torch.utils.data import DataLoader

from lit_dl.data import CIFAR10DataModule, TensorBatchLoader
from lit_dl.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD, crop_flip, draw_crop_flip
from lit_dl.errors import UserError

MEAN = torch.tensor(CIFAR10_MEAN).view(-1, 1, 1)
STD = torch.tensor(CIFAR10_STD).view(-1, 1, 1)


def make(data_dir, **overrides) -> CIFAR10DataModule:
    options = dict(data_dir=str(data_dir), val_size=10, verify_md5=False, num_workers=0, batch_size=16)
    return CIFAR10DataModule(**{**options, **overrides})


def ready(data_dir, trainer=None, **overrides) -> CIFAR10DataModule:
    datamodule = make(data_dir, **overrides)
    datamodule.trainer = trainer
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    return datamodule


def fake_trainer(rank: int, world_size: int) -> SimpleNamespace:
    """What the DataModule reads from a DDP trainer, without launching processes."""
    return SimpleNamespace(global_rank=rank, world_size=world_size, strategy=SimpleNamespace(root_device=torch.device("cpu")))


def stack(batches) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(batches)
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


def all_raw_images(root) -> tuple[torch.Tensor, torch.Tensor]:
    """The written training images `(N, 3, 32, 32)` uint8 and labels, read without torchvision."""
    parts = [read_images(root, f"data_batch_{i}") for i in range(1, 6)]
    images = np.concatenate([images for images, _ in parts])
    labels = sum((labels for _, labels in parts), [])
    return torch.from_numpy(images), torch.tensor(labels)


def normalize(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255 - MEAN) / STD


def matches_some_crop_flip(augmented: torch.Tensor, original: torch.Tensor, padding: int = 4) -> bool:
    """Whether `augmented` (normalised) is one of the 2 * 81 crops/flips of the padded `original` (uint8)."""
    padded = torch.nn.functional.pad(original, (padding,) * 4)
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy : dy + 32, dx : dx + 32]
            for candidate in (crop, crop.flip(-1)):
                if torch.equal(normalize(candidate), augmented):
                    return True
    return False


def test_contract_attributes_are_set_by_init_alone(tmp_path):
    datamodule = CIFAR10DataModule(data_dir=str(tmp_path))  # no files needed yet
    assert datamodule.input_shape == (3, 32, 32)
    assert datamodule.num_classes == datamodule.num_outputs == 10
    assert datamodule.task == "classification"


@pytest.mark.parametrize("device_resident", [False, True])
def test_loads_the_real_format_through_torchvision(tiny_cifar10, device_resident):
    datamodule = ready(tiny_cifar10, device_resident=device_resident)
    x, y = stack(datamodule.train_dataloader())
    assert x.shape == (90, 3, 32, 32) and x.dtype == torch.float32
    assert y.shape == (90,) and y.dtype == torch.int64
    assert stack(datamodule.val_dataloader())[0].shape == (10, 3, 32, 32)
    x_test, y_test = stack(datamodule.test_dataloader())
    test_images, test_labels = read_images(tiny_cifar10, "test_batch")
    assert torch.equal(y_test, torch.tensor(test_labels))
    assert torch.equal(x_test, normalize(torch.from_numpy(test_images)))  # CIFAR statistics, same floats


def test_train_and_val_split_the_training_set_by_seed(tiny_cifar10):
    images, labels = all_raw_images(tiny_cifar10)
    first = ready(tiny_cifar10, augment=False)
    x_train, _ = stack(first.train_dataloader())
    x_val, y_val = stack(first.val_dataloader())
    together = torch.cat([x_train, x_val])
    assert torch.equal(together.sort(dim=0).values, normalize(images).sort(dim=0).values)  # disjoint, complete

    again = stack(ready(tiny_cifar10, augment=False).val_dataloader())
    other = stack(ready(tiny_cifar10, augment=False, seed=1).val_dataloader())
    assert torch.equal(again[0], x_val) and torch.equal(again[1], y_val)
    assert not torch.equal(other[0], x_val)


def test_augmentation_switch(tiny_cifar10):
    plain = ready(tiny_cifar10, augment=False)
    x_plain, y_plain = next(iter(plain.train_dataloader()))
    augmented = ready(tiny_cifar10, augment=True)
    loader = augmented.train_dataloader()
    x_aug, y_aug = next(iter(loader))
    assert torch.equal(y_plain, y_aug)  # the order depends on the seed only
    assert not torch.equal(x_plain, x_aug)
    images, _ = all_raw_images(tiny_cifar10)
    subset = augmented.datasets["train"].indices
    for augmented_image, position in zip(x_aug[:4], loader.sampler):
        assert matches_some_crop_flip(augmented_image, images[subset[position]])
    x_val_plain, _ = next(iter(plain.val_dataloader()))
    x_val_aug, _ = next(iter(augmented.val_dataloader()))
    assert torch.equal(x_val_plain, x_val_aug)  # never augment evaluation


def test_device_resident_equals_standard_path_without_augmentation(tiny_cifar10):
    standard = ready(tiny_cifar10, augment=False)
    resident = ready(tiny_cifar10, augment=False, device_resident=True)
    assert isinstance(standard.train_dataloader(), DataLoader)
    assert isinstance(resident.train_dataloader(), TensorBatchLoader)
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        ours, theirs = list(getattr(resident, name)()), list(getattr(standard, name)())
        assert len(ours) == len(theirs)
        for (x_ours, y_ours), (x_theirs, y_theirs) in zip(ours, theirs):
            assert torch.equal(x_ours, x_theirs) and torch.equal(y_ours, y_theirs)


def test_device_resident_augmentation_is_seeded(tiny_cifar10):
    first = ready(tiny_cifar10, device_resident=True).train_dataloader()
    second = ready(tiny_cifar10, device_resident=True).train_dataloader()
    epoch_0 = list(first)
    for (x_a, y_a), (x_b, y_b) in zip(epoch_0, second):
        assert torch.equal(x_a, x_b) and torch.equal(y_a, y_b)
    epoch_1 = list(first)
    assert not torch.equal(epoch_0[0][0], epoch_1[0][0])
    other_seed = next(iter(ready(tiny_cifar10, device_resident=True, seed=1).train_dataloader()))
    assert not torch.equal(epoch_0[0][0], other_seed[0])

    images, _ = all_raw_images(tiny_cifar10)
    order = torch.randperm(100, generator=torch.Generator().manual_seed(0))[10:]  # the training split
    within_epoch = torch.randperm(90, generator=torch.Generator().manual_seed(0))  # epoch 0's shuffle
    for position in range(3):
        assert matches_some_crop_flip(epoch_0[0][0][position], images[order[within_epoch[position]]])


def test_crop_flip_equals_torchvision_per_sample():
    from torchvision.transforms.v2 import functional as TF

    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    offsets, flips = draw_crop_flip(len(images), 4, torch.Generator().manual_seed(3))
    batch = crop_flip(images, offsets, flips, padding=4)
    for image, (dy, dx), flip, result in zip(images, offsets.tolist(), flips.tolist(), batch):
        expected = TF.crop(TF.pad(image, [4]), dy, dx, 32, 32)
        expected = TF.horizontal_flip(expected) if flip else expected
        assert torch.equal(result, expected)
    assert flips.any() and not flips.all()


def test_device_resident_resumes_mid_epoch(tiny_cifar10):
    loader = ready(tiny_cifar10, device_resident=True).train_dataloader()
    list(loader)  # finish epoch 0, so the resume point lies in epoch 1
    iterator = iter(loader)
    next(iterator), next(iterator)
    state = loader.state_dict()
    rest = list(iterator)

    resumed = ready(tiny_cifar10, device_resident=True).train_dataloader()
    resumed.load_state_dict(state)
    replay = list(resumed)
    assert len(replay) == len(rest) == len(loader) - 2
    for (x_a, y_a), (x_b, y_b) in zip(rest, replay):
        assert torch.equal(x_a, x_b) and torch.equal(y_a, y_b)


@pytest.mark.parametrize("device_resident", [False, True])
def test_ddp_ranks_read_interleaved_shards(tiny_cifar10, device_resident):
    whole, _ = stack(ready(tiny_cifar10, augment=False, device_resident=device_resident).train_dataloader())
    shards = [
        stack(ready(tiny_cifar10, fake_trainer(rank, 2), augment=False, device_resident=device_resident).train_dataloader())[0]
        for rank in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == 45
    assert torch.equal(shards[0], whole[0::2]) and torch.equal(shards[1], whole[1::2])


def test_standard_loader_options(tiny_cifar10):
    loader = ready(tiny_cifar10, num_workers=2, batch_size=32).train_dataloader()
    assert loader.batch_size == 32 and loader.num_workers == 2 and loader.persistent_workers
    assert not loader.pin_memory  # pinning only helps a GPU
    assert not ready(tiny_cifar10, num_workers=0).train_dataloader().persistent_workers  # needs workers
    assert ready(tiny_cifar10, batch_size=32).val_dataloader().batch_size == 256


def one_line_error(call) -> str:
    with pytest.raises(UserError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("step", ["prepare_data", "setup"])
def test_missing_data_without_download(tmp_path, step):
    datamodule = make(tmp_path / "nowhere", download=False)
    message = one_line_error(getattr(datamodule, step))
    assert str((tmp_path / "nowhere").resolve()) in message
    assert "cifar-10-batches-py/" in message and "cifar-10-python.tar.gz" in message


def test_failed_download_is_a_user_error(tmp_path, monkeypatch):
    import torchvision.datasets.utils

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", offline)
    message = one_line_error(make(tmp_path, download=True).prepare_data)
    assert "name resolution" in message and str(tmp_path.resolve()) in message and "cifar-10-python.tar.gz" in message


def test_archive_is_extracted_without_network(tmp_path):
    write_cifar10(tmp_path, images_per_batch=4, test_images=4, archive=True)
    datamodule = ready(tmp_path, download=False, val_size=5)
    assert len(datamodule.datasets["train"]) == 15 and len(datamodule.datasets["test"]) == 4


def test_checksums_are_verified_by_default(tiny_cifar10):
    datamodule = make(tiny_cifar10, verify_md5=True)
    datamodule.prepare_data()  # the files are all there
    assert "md5" in one_line_error(lambda: datamodule.setup("fit"))


def test_val_size_must_leave_training_images(tiny_cifar10):
    assert "val_size" in one_line_error(lambda: ready(tiny_cifar10, val_size=100))


class TinyClassifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.nn.functional.cross_entropy(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


@pytest.mark.parametrize("device_resident", [False, True])
def test_trains_under_lightning(tiny_cifar10, tmp_path, device_resident):
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )
    trainer.fit(TinyClassifier(), datamodule=make(tiny_cifar10, device_resident=device_resident))
    assert trainer.global_step == 2 * 6
