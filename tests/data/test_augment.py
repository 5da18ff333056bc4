"""Augmentation options of the image DataModules (lit_dl.data.augment) on the tiny real-format
CIFAR-10 archive: per-image policies, random erasing, cutout, and MixUp/CutMix on both paths."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2

from tests.helpers.paths import EXPERIMENTS
from lit_dl.data import CIFAR10DataModule
from lit_dl.data.augment import ImageAugment, as_augment, cutout
from lit_dl.errors import UserError

RESIDENT = [False, True]


def ready(data_dir, **overrides) -> CIFAR10DataModule:
    options = dict(data_dir=str(data_dir), val_size=10, verify_md5=False, num_workers=0, batch_size=16)
    datamodule = CIFAR10DataModule(**{**options, **overrides})
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def first_batch(datamodule: CIFAR10DataModule) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)  # the standard path draws from torch's generator
    return next(iter(datamodule.train_dataloader()))


def zero_pixels(images: torch.Tensor) -> torch.Tensor:
    """Pixels set to zero in every channel, per image."""
    return (images == 0).all(dim=1).flatten(1).sum(dim=1)


def test_true_and_false_keep_their_meaning():
    assert as_augment(True) == ImageAugment(crop_flip=True)
    assert as_augment(False) == ImageAugment(crop_flip=False)
    assert as_augment({"mixup": 0.2}).mixes_batches


@pytest.mark.parametrize("policy, kind", [("trivial", v2.TrivialAugmentWide), ("randaugment", v2.RandAugment)])
def test_auto_policy_reaches_the_training_transform_only(tiny_cifar10, policy, kind):
    datamodule = ready(tiny_cifar10, augment={"auto": policy})
    train = datamodule.datasets["train"].dataset.transform.transforms
    assert any(isinstance(step, kind) for step in train)
    assert not any(isinstance(step, kind) for step in datamodule.datasets["val"].dataset.transform.transforms)
    images, labels = first_batch(datamodule)
    assert images.shape == (16, 3, 32, 32) and images.dtype == torch.float32 and labels.shape == (16,)


def test_random_erasing_zeroes_one_rectangle_per_image(tiny_cifar10):
    images, _ = first_batch(ready(tiny_cifar10, augment={"crop_flip": False, "erasing": 1.0}))
    erased = zero_pixels(images)
    # RandomErasing takes 2-33% of the 1024 pixels (zero is the mean after normalisation).
    assert bool((erased >= 0.02 * 1024 * 0.9).all()) and bool((erased <= 0.34 * 1024).all())
    plain, _ = first_batch(ready(tiny_cifar10, augment=False))
    assert int(zero_pixels(plain).max()) < 10


@pytest.mark.parametrize("device_resident", RESIDENT, ids=["workers", "device"])
def test_cutout_zeroes_a_square_of_every_image(tiny_cifar10, device_resident):
    images, _ = first_batch(ready(tiny_cifar10, augment={"crop_flip": False, "cutout": 8}, device_resident=device_resident))
    erased = zero_pixels(images)
    # An 8x8 square around a centre inside the image: at least its inner quarter is inside.
    assert bool((erased >= 16).all()) and bool((erased <= 64).all())


def test_cutout_square_sticks_out_at_the_border():
    images = torch.ones(2, 3, 6, 6)
    out = cutout(images, torch.tensor([[0, 0], [3, 3]]), 4)
    assert int((out[0, 0] == 0).sum()) == 4  # rows 0-1, columns 0-1 of a square from -2 to 1
    assert int((out[1, 0] == 0).sum()) == 16 and bool((out[1, :, 1:5, 1:5] == 0).all())


@pytest.mark.parametrize("device_resident", RESIDENT, ids=["workers", "device"])
@pytest.mark.parametrize("mixing", [{"mixup": 1.0}, {"cutmix": 1.0}, {"mixup": 0.2, "cutmix": 1.0}], ids=["mixup", "cutmix", "both"])
def test_mixing_gives_class_probabilities(tiny_cifar10, device_resident, mixing):
    datamodule = ready(tiny_cifar10, augment={"crop_flip": False, **mixing}, device_resident=device_resident)
    images, targets = first_batch(datamodule)
    assert images.shape == (16, 3, 32, 32)
    assert targets.shape == (16, 10) and targets.dtype == torch.float32
    torch.testing.assert_close(targets.sum(dim=1), torch.ones(16))
    assert bool(((targets > 0).sum(dim=1) <= 2).all())  # each image mixes with one other
    plain, labels = first_batch(ready(tiny_cifar10, augment=False, device_resident=device_resident))
    assert not torch.equal(images, plain)
    assert bool((targets.argmax(dim=1) == labels).float().mean() > 0.4)  # mostly the own class
    _, val_labels = next(iter(datamodule.val_dataloader()))
    assert val_labels.dtype == torch.int64 and val_labels.dim() == 1  # never mix evaluation


def test_device_mixing_is_seeded_by_the_batch_and_leaves_torch_rng_alone(tiny_cifar10):
    options = dict(augment={"mixup": 0.4, "cutmix": 1.0, "cutout": 6}, device_resident=True)
    state = torch.get_rng_state()
    first = list(ready(tiny_cifar10, **options).train_dataloader())
    assert torch.equal(torch.get_rng_state(), state)
    again = list(ready(tiny_cifar10, **options).train_dataloader())
    for (x1, y1), (x2, y2) in zip(first, again):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


@pytest.mark.parametrize("augment", [{"auto": "trivial"}, {"erasing": 0.25}])
def test_per_image_options_on_device_resident_data_are_a_user_error(tiny_cifar10, augment):
    with pytest.raises(UserError, match="device_resident"):
        CIFAR10DataModule(data_dir=str(tiny_cifar10), device_resident=True, augment=augment)


@pytest.mark.parametrize("augment", [{"auto": "autoaugment"}, {"erasing": 2.0}, {"mixup": -1.0}])
def test_bad_options_are_user_errors(augment):
    with pytest.raises(UserError, match="augment"):
        as_augment(augment)


@pytest.mark.parametrize("device_resident", RESIDENT, ids=["workers", "device"])
def test_yaml_options_train_end_to_end(lit_dl, tmp_path, tiny_cifar10, device_resident):
    per_image = "auto: trivial, erasing: 0.25, " if not device_resident else "cutout: 8, "
    code, out, err = lit_dl(
        "fit", "--config", EXPERIMENTS / "cnn_cifar10.yaml", "--trainer.default_root_dir", tmp_path,
        "--trainer.fast_dev_run", "true", "--trainer.accelerator", "cpu",
        "--data.init_args.data_dir", tiny_cifar10, "--data.init_args.verify_md5", "false",
        "--data.init_args.val_size", "20", "--data.init_args.num_workers", "0", "--data.init_args.batch_size", "8",
        "--data.init_args.device_resident", str(device_resident).lower(),
        "--data.init_args.augment", "{" + per_image + "mixup: 0.2, cutmix: 1.0}",
    )
    assert code == 0, err
    assert "test/acc" in out


@pytest.mark.parametrize("augment", [{"cutout": 32}, {"cutout": 64}, {"padding": 40}])
def test_pixel_options_as_large_as_the_image_are_user_errors(augment):
    (name, size), = augment.items()
    with pytest.raises(UserError, match=f"augment.{name} {size} is not smaller than the 32x32 images"):
        as_augment(augment, image_size=(32, 32))
    assert as_augment({name: 31}, image_size=(32, 32))  # just inside


def test_the_datamodule_checks_its_options_where_jsonargparse_would_hide_the_reason():
    """jsonargparse builds ImageAugment while it tries each type of `bool | ImageAugment`, and
    keeps only the text of an error raised there: the check runs in the DataModule instead."""
    assert ImageAugment(mixup=-1.0).mixup == -1.0  # built without complaint
    with pytest.raises(UserError, match="augment.mixup is -1.0"):
        CIFAR10DataModule(data_dir="nowhere", download=False, augment=ImageAugment(mixup=-1.0))
