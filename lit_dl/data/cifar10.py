"""CIFAR-10 through `torchvision.datasets.CIFAR10`, with an optional device-resident fast path.

The standard path is torchvision's: PIL images, per-sample transforms in worker processes.

With `device_resident: true` each split lives on the training device as one uint8 tensor
(50,000 images are 150 MB); every batch is cropped, flipped, normalised, cut out and mixed there
with a few whole-batch tensor ops. For small nets this removes the input pipeline from the step
time. The random draws are made on the CPU, so a seed gives the same batches on any device.

`augment` takes `true`, `false` or the options of `lit_dl.data.augment.ImageAugment`.

torchvision is imported inside methods, so `import lit_dl.data` stays cheap.
"""

from __future__ import annotations

import copy
import tarfile
from functools import cache
from pathlib import Path
from urllib.error import URLError

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from lit_dl.data.augment import (
    ImageAugment,
    MixingCollate,
    as_augment,
    auto_policy,
    batch_mixer,
    cutout,
    draw_cutout_centres,
    mix_with,
    per_image_after_normalise,
)
from lit_dl.data.base import distributed_position, training_device
from lit_dl.data.inputs import RawInputs
from lit_dl.data.loader import TensorBatchLoader
from lit_dl.errors import UserError

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (3, 32, 32)  # channels, height, width
FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html"


@cache
def cifar10_dataset_class(verify_md5: bool = True) -> type:
    """torchvision's `CIFAR10`, or, without md5 checks, a subclass that only needs the files to
    exist. torchvision's loading code runs unchanged in both: `check_integrity(path, None)` is
    its own "present, any content" test, so blanking the class's checksums is the whole change."""
    from torchvision.datasets import CIFAR10

    if verify_md5:
        return CIFAR10

    class UncheckedCIFAR10(CIFAR10):
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}
        tgz_md5 = None

    return UncheckedCIFAR10


def draw_crop_flip(batch_size: int, padding: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per-sample (row, column) crop offsets in [0, 2 * padding] and horizontal-flip flags, on the CPU."""
    offsets = torch.randint(0, 2 * padding + 1, (batch_size, 2), generator=generator)
    flips = torch.rand(batch_size, generator=generator) < 0.5
    return offsets, flips


def crop_flip(images: Tensor, offsets: Tensor, flips: Tensor, padding: int) -> Tensor:
    """`RandomCrop(size, padding)` then `RandomHorizontalFlip` for a whole batch `(B, C, H, W)` in
    one gather: output pixel (r, c) of a sample reads its padded pixel (r + dy, c + dx), with the
    columns in reverse order for flipped samples. Only the offsets and flags cross devices."""
    batch, channels, height, width = images.shape
    device = images.device
    offsets, flips = offsets.to(device), flips.to(device)
    padded = F.pad(images, (padding, padding, padding, padding))
    padded_width = width + 2 * padding
    columns = torch.arange(width, device=device)
    columns = torch.where(flips.unsqueeze(1), columns.flip(0), columns) + offsets[:, 1:]  # (B, W)
    rows = offsets[:, :1] + torch.arange(height, device=device)  # (B, H)
    pixels = (rows.unsqueeze(2) * padded_width + columns.unsqueeze(1)).view(batch, 1, height * width)
    flat = padded.view(batch, channels, -1)
    return flat.gather(2, pixels.expand(batch, channels, height * width)).view(batch, channels, height, width)


class ImageBatchTransform:
    """A `TensorBatchLoader` transform for `(uint8 images, labels)` batches, on the images' own
    device: optional random crop and flip, then `ToTensor` and `Normalize`'s arithmetic, then
    optional cutout and MixUp/CutMix (which make the labels class probabilities)."""

    def __init__(
        self,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augment: bool | ImageAugment,
        padding: int = 4,
        num_classes: int = 10,
    ) -> None:
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)
        self.augment = ImageAugment(padding=padding) if augment is True else as_augment(augment)
        self.mixer = batch_mixer(self.augment, num_classes)

    def __call__(self, batch: tuple[Tensor, ...], generator: torch.Generator) -> tuple[Tensor, ...]:
        images, labels = batch
        augment = self.augment
        if augment.crop_flip:
            offsets, flips = draw_crop_flip(len(images), augment.padding, generator)
            images = crop_flip(images, offsets, flips, augment.padding)
        if self.mean.device != images.device:
            self.mean, self.std = self.mean.to(images.device), self.std.to(images.device)
        # The same operations in the same order as ToTensor + Normalize, hence the same floats.
        normalized = images.float().div(255).sub(self.mean).div(self.std)
        if augment.cutout > 0:
            centres = draw_cutout_centres(len(images), images.shape[-2], images.shape[-1], generator)
            normalized = cutout(normalized, centres, augment.cutout)
        if self.mixer is not None:
            normalized, labels = mix_with(self.mixer, normalized, labels, generator)
        return normalized, labels


class CIFAR10DataModule(pl.LightningDataModule):
    """CIFAR-10 with a seeded train/val split of the 50,000 training images; batches are
    `(images float32 (B, 3, 32, 32), labels int64 (B,))`."""

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = True,
        val_size: int = 5000,
        augment: bool | ImageAugment = True,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        device_resident: bool = False,
        verify_md5: bool = True,
        seed: int = 0,
    ) -> None:
        """
        Args:
            data_dir: the folder holding (or to receive) cifar-10-batches-py/ or cifar-10-python.tar.gz.
            download: fetch the dataset when data_dir has neither.
            val_size: training images held out for validation (the rest, 50,000 - val_size, train).
            augment: what training images go through: true (random 32x32 crops of the 4-pixel
                zero-padded image and horizontal flips), false (nothing), or the options of
                `lit_dl.data.augment.ImageAugment`, e.g. `{auto: trivial, erasing: 0.25, mixup: 0.2,
                cutmix: 1.0}` (MixUp and CutMix make the labels class probabilities).
            batch_size: images per training batch.
            eval_batch_size: images per validation and test batch (default max(batch_size, 256)).
            num_workers: DataLoader worker processes for the standard path.
            pin_memory: pin batches for faster copies to the GPU (only when training on one).
            persistent_workers: keep the workers alive between epochs (only with num_workers > 0).
            device_resident: keep the dataset on the training device and augment there per batch;
                no worker processes.
            verify_md5: check the files against torchvision's checksums (turn off only for files you
                made yourself, such as test fixtures).
            seed: picks the train/val split, the shuffling and (device-resident) the augmentation draws.
        """
        super().__init__()
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        self.data_dir = Path(data_dir)
        self.download = download
        self.val_size = val_size
        self.augment = as_augment(augment, image_size=IMAGE_SHAPE[1:])
        if device_resident and (self.augment.auto != "none" or self.augment.erasing > 0):
            raise UserError(
                "augment.auto and augment.erasing run per image in DataLoader workers, which device_resident "
                "data has none of; use augment.cutout (and crop_flip, mixup, cutmix) there, or set device_resident: false"
            )
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or max(batch_size, 256)
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.device_resident = device_resident
        self.verify_md5 = verify_md5
        self.seed = seed

        self.input_shape = IMAGE_SHAPE
        self.num_classes = 10
        self.class_names = CLASS_NAMES  # labels of the per-class test results
        self.num_outputs = 10
        self.task = "classification"
        # Filled by setup: torchvision datasets (standard path) or (uint8 images, labels) on the device.
        self.datasets: dict[str, Dataset] = {}
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}

    # --- files -------------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        return self.data_dir / FOLDER

    def _folder_complete(self) -> bool:
        return all((self.folder / name).is_file() for name in FILES)

    def _missing_message(self) -> str:
        return (
            f"CIFAR-10 not found in {self.data_dir.resolve()}: put the extracted {FOLDER}/ folder or "
            f"{ARCHIVE} there (from {SOURCE})"
        )

    def prepare_data(self) -> None:
        self._ensure_files(allow_download=self.download)

    def _ensure_files(self, allow_download: bool) -> None:
        if self._folder_complete():
            return
        from torchvision.datasets.utils import check_integrity, download_and_extract_archive, extract_archive

        dataset_class = cifar10_dataset_class(self.verify_md5)
        archive = self.data_dir / ARCHIVE
        if archive.is_file():
            if not check_integrity(archive, dataset_class.tgz_md5):
                raise UserError(f"{archive} fails its md5 check (incomplete or not CIFAR-10); delete it and download again")
            try:
                extract_archive(str(archive), str(self.data_dir))
            except (tarfile.TarError, EOFError, OSError) as error:
                raise UserError(f"cannot extract {archive} ({error}); delete it and download again") from None
        elif allow_download:
            try:
                download_and_extract_archive(
                    dataset_class.url, str(self.data_dir), filename=dataset_class.filename, md5=dataset_class.tgz_md5
                )
            except (URLError, OSError, RuntimeError, tarfile.TarError) as error:
                raise UserError(f"downloading CIFAR-10 failed ({error}); {self._missing_message()}") from None
        else:
            raise UserError(f"{self._missing_message()}, or set download: true on a machine with internet access")
        if not self._folder_complete():
            missing = [name for name in FILES if not (self.folder / name).is_file()]
            raise UserError(f"{self.folder} lacks {', '.join(missing)}; replace it with a complete copy from {SOURCE}")

    def _read(self, train: bool, transform=None) -> Dataset:
        dataset_class = cifar10_dataset_class(self.verify_md5)
        try:
            return dataset_class(str(self.data_dir), train=train, transform=transform, download=False)
        except RuntimeError as error:  # torchvision's "not found or corrupted": a failed md5
            raise UserError(
                f"the CIFAR-10 files in {self.folder} fail torchvision's md5 check ({error}); delete the folder "
                "and download again (or set verify_md5: false for files you made yourself)"
            ) from None

    # --- splits ------------------------------------------------------------------------------

    def _split_indices(self, total: int) -> tuple[Tensor, Tensor]:
        if not 0 < self.val_size < total:
            raise UserError(f"val_size must be between 1 and {total - 1} (the training images less one), got {self.val_size}")
        order = torch.randperm(total, generator=torch.Generator().manual_seed(self.seed))
        return order[self.val_size :], order[: self.val_size]

    def setup(self, stage: str | None = None) -> None:
        self._ensure_files(allow_download=False)  # prepare_data may not have run (plain use)
        if stage in (None, "fit", "validate") and "train" not in self.datasets and "train" not in self.splits:
            self._setup_train()
        if stage in (None, "test", "predict") and "test" not in self.datasets and "test" not in self.splits:
            self._setup_test()

    def _setup_train(self) -> None:
        if self.device_resident:
            images, labels = self._tensors(self._read(train=True))
            train, val = self._split_indices(len(labels))
            device = training_device(self.trainer)
            self.splits["train"] = (images[train].to(device), labels[train].to(device))
            self.splits["val"] = (images[val].to(device), labels[val].to(device))
            return
        train_set = self._read(train=True, transform=self._train_transform())
        # A shallow copy shares the decoded images; only the transform differs.
        val_set = copy.copy(train_set)
        val_set.transform = self._eval_transform()
        train, val = self._split_indices(len(train_set))
        self.datasets["train"] = Subset(train_set, train.tolist())
        self.datasets["val"] = Subset(val_set, val.tolist())

    def _setup_test(self) -> None:
        if self.device_resident:
            images, labels = self._tensors(self._read(train=False))
            device = training_device(self.trainer)
            self.splits["test"] = (images.to(device), labels.to(device))
        else:
            self.datasets["test"] = self._read(train=False, transform=self._eval_transform())

    @staticmethod
    def _tensors(dataset) -> tuple[Tensor, Tensor]:
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # HWC -> CHW, uint8
        return images, torch.tensor(dataset.targets, dtype=torch.int64)

    def _train_transform(self):
        from torchvision import transforms

        augment = self.augment
        on_pil = [transforms.RandomCrop(32, padding=augment.padding), transforms.RandomHorizontalFlip()] if augment.crop_flip else []
        on_pil += auto_policy(augment.auto)
        return transforms.Compose([*on_pil, *self._eval_transform().transforms, *per_image_after_normalise(augment)])

    def _eval_transform(self):
        from torchvision import transforms

        return transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])

    # --- a user's own images ----------------------------------------------------------------------

    def input_transform(self) -> RawInputs:
        """An image as a user has it (height x width x channels, 0-255, as `CIFAR10.data` holds
        them) to the net's input: channels first, divided by 255, normalised like `_eval_transform`."""
        return RawInputs((32, 32, 3), self.input_shape, permute=(2, 0, 1), scale=255.0,
                         mean=torch.tensor(CIFAR10_MEAN).view(-1, 1, 1), std=torch.tensor(CIFAR10_STD).view(-1, 1, 1),
                         what="CIFAR-10's channel mean and standard deviation")

    def raw_test_inputs(self, count: int) -> Tensor:
        """The first `count` test images, height x width x channels, values 0-255 (float32)."""
        self._ensure_files(allow_download=False)
        return torch.from_numpy(self._read(train=False).data[:count]).float()

    # --- loaders -----------------------------------------------------------------------------

    def _loader(self, split: str, train: bool) -> TensorBatchLoader | DataLoader:
        rank, world = distributed_position(self.trainer)
        batch_size = self.batch_size if train else self.eval_batch_size
        if self.device_resident:
            return TensorBatchLoader(
                self.splits[split],
                batch_size=batch_size,
                shuffle=train,
                seed=self.seed,
                rank=rank,
                world_size=world,
                transform=ImageBatchTransform(
                    CIFAR10_MEAN, CIFAR10_STD, augment=self.augment if train else False, num_classes=self.num_classes
                ),
            )
        dataset = self.datasets[split]
        # The sampler TensorBatchLoader imitates: the same order for the same seed on either path,
        # and Lightning keeps it under DDP instead of substituting its own.
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=train, seed=self.seed)
        mixer = batch_mixer(self.augment, self.num_classes) if train else None
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and training_device(self.trainer).type == "cuda",
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            collate_fn=MixingCollate(mixer) if mixer is not None else None,
        )

    def train_dataloader(self) -> TensorBatchLoader | DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> TensorBatchLoader | DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> TensorBatchLoader | DataLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> TensorBatchLoader | DataLoader:
        return self._loader("test", train=False)
