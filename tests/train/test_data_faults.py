"""Fault tests for the data folder: unreadable, incomplete, missing, and corrupt labels.

The tests run as root, whom ``chmod 000`` does not stop; the refusal is made where the OS
would make it for any other user (the folder listing or the file open raises
PermissionError), and the messages are checked to name the path."""

from __future__ import annotations

import errno
import os
import shutil
import struct

import pytest

from explorer.activations.images import ImageError
from explorer.activations.samples import FashionTestImages
from explorer.cli import main
from explorer.train import DataError, TrainConfig, Trainer, load_fashion_mnist
from explorer.train import data as data_module
from explorer.train.data import RAW_FILES, raw_folder


@pytest.fixture
def copy_of_tiny(tiny_fashion_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_fashion_root, root)
    return root


@pytest.fixture
def no_download(monkeypatch):
    from torchvision.datasets import FashionMNIST

    def refuse(self):
        raise AssertionError("nothing may be downloaded here")

    monkeypatch.setattr(FashionMNIST, "download", refuse)


def test_unreadable_raw_folder_says_permission_denied_with_the_path(copy_of_tiny, monkeypatch, no_download):
    raw = raw_folder(copy_of_tiny)
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(raw):
            raise PermissionError(errno.EACCES, "Permission denied", str(raw))
        return real(path)

    monkeypatch.setattr(data_module.os, "scandir", scandir)
    with pytest.raises(DataError, match=f"^cannot read Fashion-MNIST: permission denied: {raw}$"):
        load_fashion_mnist(copy_of_tiny, download=True)


def test_unreadable_file_names_the_file(copy_of_tiny, monkeypatch, no_download):
    target = raw_folder(copy_of_tiny) / "t10k-labels-idx1-ubyte"
    real = open

    def guarded(file, *args, **kwargs):
        if os.fspath(file) == str(target):
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(data_module, "open", guarded, raising=False)
    with pytest.raises(DataError, match=f"permission denied: {target}"):
        load_fashion_mnist(copy_of_tiny, download=True)


def test_incomplete_folder_names_the_missing_files_and_downloads_nothing(copy_of_tiny, no_download):
    (raw_folder(copy_of_tiny) / RAW_FILES[3]).unlink()
    with pytest.raises(DataError, match=f"is incomplete: {RAW_FILES[3]} missing"):
        load_fashion_mnist(copy_of_tiny, download=True)


def test_a_named_data_folder_that_does_not_exist_is_not_created(tmp_path, capsys, no_download):
    missing = tmp_path / "nope"
    trainer = Trainer(TrainConfig(model="lenet_small", device="cpu"), data_root=missing, history=False,
                      checkpoint_path=False)
    with pytest.raises(DataError, match=f"data folder {missing} does not exist"):
        next(trainer.run())
    code = main(["train", "lenet_small", "--data-dir", str(missing), "--device", "cpu"])
    assert code == 1 and "does not exist" in capsys.readouterr().err
    assert not missing.exists()


def test_failed_download_is_not_blamed_on_a_readable_folder(tmp_path, monkeypatch):
    from torchvision.datasets import FashionMNIST

    def offline(self):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(FashionMNIST, "download", offline)
    with pytest.raises(DataError, match="could not be downloaded"):
        load_fashion_mnist(tmp_path, download=True)


def test_test_label_200_is_reported_by_the_sample_picker(copy_of_tiny):
    labels = raw_folder(copy_of_tiny) / "t10k-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[8] = 200
    labels.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="labels .* are corrupt: values outside 0-9"):
        FashionTestImages(copy_of_tiny)
    with pytest.raises(DataError, match="labels .* are corrupt"):
        load_fashion_mnist(copy_of_tiny)
    assert struct.unpack(">II", bytes(data[:8]))[0] == 2049


def test_sample_picker_treats_an_unreadable_folder_as_no_data(copy_of_tiny, monkeypatch):
    import pathlib

    raw = raw_folder(copy_of_tiny)
    real = pathlib.Path.stat

    def stat(self, *args, **kwargs):
        if str(self).startswith(str(raw) + "/"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "stat", stat)
    assert FashionTestImages.available(copy_of_tiny) is False
