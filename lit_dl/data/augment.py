"""Training-image augmentation for the image DataModules, set from YAML as one `augment` entry:

    augment: true                  # random crop of the 4-pixel padded image + horizontal flip
    augment: false                 # nothing
    augment: {crop_flip: true, auto: trivial, erasing: 0.25, cutout: 0, mixup: 0.2, cutmix: 1.0}

Per-image steps (crop and flip, an automatic policy, random erasing, cutout) come from
torchvision's transforms; MixUp and CutMix (torchvision.transforms.v2) mix whole batches and turn
the labels into class probabilities, which `torch.nn.CrossEntropyLoss` accepts as targets.

torchvision is imported inside functions, so `import lit_dl.data` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from lit_dl.errors import UserError

AutoPolicy = Literal["none", "trivial", "randaugment"]


@dataclass
class ImageAugment:
    """What training images go through; validation and test images are only normalised.

    Args:
        crop_flip: a random crop of the image zero-padded by `padding` pixels on each side (a
            translation by up to `padding` pixels), then a horizontal flip half of the time.
        padding: the crop's padding in pixels.
        auto: a per-image policy of random photometric and geometric operations:
            "trivial" (TrivialAugmentWide: one operation of random strength per image),
            "randaugment" (RandAugment: two operations of strength 9 of 31), or "none".
            Runs in the DataLoader workers; not with device_resident.
        erasing: the probability that an image gets one rectangle (2-33% of its area, aspect
            0.3-3.3) set to zero, the dataset mean after normalisation (torchvision's
            RandomErasing). Runs in the DataLoader workers; with device_resident use `cutout`.
        cutout: the side in pixels of a square set to zero around a random centre of every image
            (Cutout, DeVries & Taylor 2017; the square may stick out of the image). 0: off.
        mixup: alpha of MixUp's Beta(alpha, alpha) mixing weight (Zhang et al., 2018); 0: off.
        cutmix: alpha of CutMix's Beta(alpha, alpha) patch area (Yun et al., 2019); 0: off.
            With both, each batch gets one of the two, chosen at random.
    """

    crop_flip: bool = True
    padding: int = 4
    auto: AutoPolicy = "none"
    erasing: float = 0.0
    cutout: int = 0
    mixup: float = 0.0
    cutmix: float = 0.0

    def check(self, image_size: tuple[int, int] | None = None) -> None:
        """Every option in its range (and, given the images' (height, width), a pixel option
        smaller than the image), else a UserError naming it. Called by `as_augment`, where a
        DataModule takes the options: jsonargparse builds this class while it tries each type of
        `augment: bool | ImageAugment` and keeps only the text of an error raised here."""
        if self.auto not in ("none", "trivial", "randaugment"):
            raise UserError(f"augment.auto must be 'none', 'trivial' or 'randaugment', got {self.auto!r}")
        if not 0.0 <= self.erasing <= 1.0:
            raise UserError(f"augment.erasing is a probability in [0, 1], got {self.erasing}")
        for name in ("padding", "cutout", "mixup", "cutmix"):
            if getattr(self, name) < 0:
                raise UserError(f"augment.{name} is {getattr(self, name)}; it must be 0 or more (0 turns it off)")
        side = min(image_size) if image_size else None
        for name in ("padding", "cutout"):
            if side is not None and getattr(self, name) >= side:
                height, width = image_size
                raise UserError(
                    f"augment.{name} {getattr(self, name)} is not smaller than the {height}x{width} images, so it would "
                    f"blank whole images; use fewer than {side} pixels (0 turns it off)"
                )

    @property
    def mixes_batches(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0


def as_augment(augment: bool | dict[str, Any] | ImageAugment, image_size: tuple[int, int] | None = None) -> ImageAugment:
    """`augment` as an ImageAugment, checked (for images of `image_size` when given): true is
    crop + flip, false is nothing."""
    if isinstance(augment, dict):
        augment = ImageAugment(**augment)
    elif not isinstance(augment, ImageAugment):
        augment = ImageAugment(crop_flip=bool(augment))
    augment.check(image_size)
    return augment


def auto_policy(name: AutoPolicy) -> list[Callable]:
    """The automatic policy as a list of at most one transform (PIL or uint8 images)."""
    from torchvision.transforms import v2

    if name == "trivial":
        return [v2.TrivialAugmentWide()]
    if name == "randaugment":
        return [v2.RandAugment()]
    return []


def cutout(images: Tensor, centres: Tensor, size: int) -> Tensor:
    """Zero a `size` x `size` square around each image's (row, column) centre, `(B, C, H, W)`
    images and `(B, 2)` centres, in one masked fill (squares may stick out of the image)."""
    _, _, height, width = images.shape
    centres = centres.to(images.device)
    low = centres - size // 2  # (B, 2): top row, left column
    rows = torch.arange(height, device=images.device)
    columns = torch.arange(width, device=images.device)
    in_rows = (rows >= low[:, :1]) & (rows < low[:, :1] + size)  # (B, H)
    in_columns = (columns >= low[:, 1:]) & (columns < low[:, 1:] + size)  # (B, W)
    cut = in_rows.unsqueeze(2) & in_columns.unsqueeze(1)  # (B, H, W)
    return images.masked_fill(cut.unsqueeze(1), 0)


def draw_cutout_centres(batch_size: int, height: int, width: int, generator: torch.Generator | None = None) -> Tensor:
    """Uniform (row, column) centres, on the CPU."""
    return torch.stack(
        [
            torch.randint(0, height, (batch_size,), generator=generator),
            torch.randint(0, width, (batch_size,), generator=generator),
        ],
        dim=1,
    )


class Cutout:
    """`cutout` for one `(C, H, W)` image tensor, as a per-image transform."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: Tensor) -> Tensor:
        centre = draw_cutout_centres(1, image.shape[-2], image.shape[-1])
        return cutout(image.unsqueeze(0), centre, self.size).squeeze(0)


def per_image_after_normalise(augment: ImageAugment) -> list[Callable]:
    """The steps that work on the normalised float image: random erasing, cutout."""
    from torchvision.transforms import v2

    steps: list[Callable] = []
    if augment.erasing > 0:
        steps.append(v2.RandomErasing(p=augment.erasing, value=0))
    if augment.cutout > 0:
        steps.append(Cutout(augment.cutout))
    return steps


def batch_mixer(augment: ImageAugment, num_classes: int) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None:
    """MixUp, CutMix or a random choice of the two for `(images, labels)` batches; None when off."""
    if not augment.mixes_batches:
        return None
    from torchvision.transforms import v2

    mixers = []
    if augment.mixup > 0:
        mixers.append(v2.MixUp(alpha=augment.mixup, num_classes=num_classes))
    if augment.cutmix > 0:
        mixers.append(v2.CutMix(alpha=augment.cutmix, num_classes=num_classes))
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)


class MixingCollate:
    """A DataLoader `collate_fn`: stack the samples, then mix the batch (picklable for workers)."""

    def __init__(self, mixer: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]) -> None:
        self.mixer = mixer

    def __call__(self, samples: list[Any]) -> tuple[Tensor, Tensor]:
        from torch.utils.data import default_collate

        images, labels = default_collate(samples)
        return self.mixer(images, labels)


def mix_with(mixer: Callable, images: Tensor, labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Run a torchvision mixer, whose draws come from torch's global generator, on numbers from
    `generator` instead, leaving the global stream as it was (so the batch alone decides them)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return mixer(images, labels)
