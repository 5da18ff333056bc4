"""Each DataModule's `input_transform` turns a user's raw samples into exactly what the net was
trained on, and `raw_test_inputs` gives the test samples as the user has them."""

from __future__ import annotations

import numpy as np
import torch

from lit_dl.data import ArrayDataModule, CIFAR10DataModule, SyntheticSequenceDataModule, ToyClassificationDataModule


def test_cifar10_raw_pixels_become_the_normalised_images_of_training(tiny_cifar10):
    data = CIFAR10DataModule(str(tiny_cifar10), download=False, verify_md5=False, val_size=20, num_workers=0)
    data.setup("test")
    raw = data.raw_test_inputs(8)
    assert raw.shape == (8, 32, 32, 3) and raw.max() > 1  # height x width x channels, 0-255
    evaluated = torch.stack([data.datasets["test"][i][0] for i in range(8)])  # torchvision's ToTensor + Normalize
    transform = data.input_transform()
    torch.testing.assert_close(transform(raw), evaluated, atol=1e-6, rtol=1e-6)
    assert transform.describe() == "axes [32, 32, 3] -> [3, 32, 32], divided by 255, standardised (CIFAR-10's channel mean and standard deviation)"


def test_array_rows_are_reshaped_and_standardised_as_in_training(write_npz):
    rng = np.random.default_rng(0)
    path = write_npz(x_train=rng.normal(5, 3, size=(50, 64)), y_train=np.arange(50) % 3,
                     x_test=rng.normal(5, 3, size=(10, 64)), y_test=np.arange(10) % 3)
    data = ArrayDataModule(path, input_shape=[1, 8, 8], standardize=True)
    raw = data.raw_test_inputs(4)
    assert raw.shape == (4, 64)
    torch.testing.assert_close(data.input_transform()(raw), data.splits["test"][0][:4])
    plain = ArrayDataModule(path)
    assert plain.input_transform().describe() == "none: the net reads them as they are"


def test_generated_data_is_already_as_the_net_reads_it():
    for data in (ToyClassificationDataModule(n_train=20, n_val=10, n_test=10),
                 SyntheticSequenceDataModule("parity", seq_len=5, n_train=20, n_val=10, n_test=10)):
        raw = data.raw_test_inputs(3)
        torch.testing.assert_close(data.input_transform()(raw), data.splits["test"][0][:3])
