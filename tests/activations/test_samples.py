"""Built-in samples and the Fashion-MNIST test picker."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.activations.images import ImageError
from explorer.activations.samples import SAMPLES, FashionTestImages, load_sample


def test_every_builtin_sample_loads():
    assert SAMPLES[0].name == "ankle_boot"
    for sample in SAMPLES:
        loaded = load_sample(sample.name)
        assert loaded.image.mode in ("L", "RGB") and loaded.source.startswith("sample: ")
    default = load_sample()
    assert default.image.size == (28, 28) and np.asarray(default.image).max() > 100
    assert load_sample("shapes").image.mode == "RGB"


def test_unknown_sample():
    with pytest.raises(ImageError, match="unknown sample 'cat'"):
        load_sample("cat")


def test_fashion_test_images(fashion_root):
    assert FashionTestImages.available(fashion_root)
    images = FashionTestImages(fashion_root)
    assert len(images) >= 10
    loaded = images.load(3)
    assert loaded.image.size == (28, 28) and loaded.image.mode == "L"
    assert loaded.source.startswith("Fashion-MNIST test #3 (")
    assert 0 <= images.label(3) <= 9
    with pytest.raises(ImageError, match="does not exist"):
        images.load(len(images))


def test_missing_or_broken_fashion_data(tmp_path):
    assert not FashionTestImages.available(tmp_path)
    with pytest.raises(ImageError, match="no Fashion-MNIST test images"):
        FashionTestImages(tmp_path)
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 4)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"junk")
    with pytest.raises(ImageError):
        FashionTestImages(tmp_path)


def test_photographs_for_imagenet_models_are_builtin():
    from explorer.activations.samples import PHOTOS
    from explorer.resources import resource_path

    readme = resource_path("samples/README.md").read_text(encoding="utf-8")
    assert len(PHOTOS) >= 4 and all(p in SAMPLES for p in PHOTOS)
    for photo in PHOTOS:
        loaded = load_sample(photo.name)
        assert loaded.image.mode == "RGB" and min(loaded.image.size) == 256 and loaded.format == "JPEG"
        # Every shipped photograph has its source and licence written down.
        assert photo.file in readme
    assert len({s.name for s in SAMPLES}) == len(SAMPLES)
