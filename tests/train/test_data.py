"""Loading Fashion-MNIST onto the device, and the messages for missing or corrupt files."""

from __future__ import annotations

import shutil
import struct

import pytest
import torch

from explorer.train import DataError, load_fashion_mnist
from explorer.train.augment import prepare_batch, random_flip, random_shift


def test_loads_splits_with_validation_carved_from_train(fashion_root):
    data = load_fashion_mnist(fashion_root, "cpu", val_fraction=0.1, seed=3)
    sizes = data.sizes
    raw_train = sizes["train"] + sizes["val"]
    assert sizes["val"] == round(raw_train * 0.1)
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape[1:] == (28, 28)
    assert data.train_labels.dtype == torch.int64 and int(data.train_labels.max()) <= 9
    again = load_fashion_mnist(fashion_root, "cpu", val_fraction=0.1, seed=3)
    assert torch.equal(again.val_labels, data.val_labels)  # same seed, same split


def test_subset_limits_train_and_test(tiny_fashion_root):
    data = load_fashion_mnist(tiny_fashion_root, subset=100, val_fraction=0.2)
    assert data.sizes == {"train": 80, "val": 20, "test": 100}


def test_missing_data_names_the_folder(tmp_path):
    with pytest.raises(DataError, match=f"put .* into {tmp_path / 'FashionMNIST' / 'raw'}"):
        load_fashion_mnist(tmp_path)


def test_failed_download_offline_names_the_folder(tmp_path, monkeypatch):
    from torchvision.datasets import FashionMNIST

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://..., got:\n"
                           "<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(FashionMNIST, "download", offline)
    with pytest.raises(DataError, match="could not be downloaded .*FashionMNIST/raw"):
        load_fashion_mnist(tmp_path, download=True)


@pytest.fixture
def copy_of_tiny(tiny_fashion_root, tmp_path):
    shutil.copytree(tiny_fashion_root / "FashionMNIST", tmp_path / "FashionMNIST")
    return tmp_path


def test_bad_magic_is_corrupt(copy_of_tiny):
    path = copy_of_tiny / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[0:4] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="train files .* are corrupt"):
        load_fashion_mnist(copy_of_tiny)


def test_truncated_images_are_corrupt(copy_of_tiny):
    path = copy_of_tiny / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="t10k files .* are corrupt"):
        load_fashion_mnist(copy_of_tiny)


def test_label_count_mismatch_is_reported(copy_of_tiny):
    path = copy_of_tiny / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte"
    labels = path.read_bytes()[8:]
    path.write_bytes(struct.pack(">II", 2049, len(labels) - 5) + labels[:-5])
    with pytest.raises(DataError, match="do not match: 600 images but 595 labels"):
        load_fashion_mnist(copy_of_tiny)


def test_flip_and_shift_keep_shapes_and_pixels():
    g = torch.Generator().manual_seed(0)
    images = torch.arange(16 * 28 * 28, dtype=torch.int64).remainder(251).to(torch.uint8).view(16, 28, 28)
    flipped = random_flip(images, g)
    for original, out in zip(images, flipped):
        assert torch.equal(out, original) or torch.equal(out, original.flip(-1))
    assert not torch.equal(flipped, images)  # some were flipped with 16 draws
    one = torch.zeros(64, 28, 28, dtype=torch.uint8)
    one[:, 14, 14] = 255
    shifted = random_shift(one, 2, g)
    assert shifted.shape == one.shape and shifted.dtype == torch.uint8
    positions = (shifted == 255).nonzero()[:, 1:]
    assert len(positions) == 64  # the pixel moved but stayed inside
    assert ((positions - 14).abs() <= 2).all() and (positions != 14).any()


def test_prepare_batch_normalises_resizes_and_repeats_channels():
    images = torch.full((3, 28, 28), 255, dtype=torch.uint8)
    x = prepare_batch(images, mean=0.5, std=0.25, size=(32, 32), in_channels=3)
    assert x.shape == (3, 3, 32, 32) and torch.allclose(x, torch.full_like(x, 2.0))
    plain = prepare_batch(images, mean=0.0, std=1.0)
    assert plain.shape == (3, 1, 28, 28) and float(plain.max()) == 1.0
