"""Preprocessing follows the model's metadata; predictions carry the right class names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from explorer.activations.predictions import FASHION_MNIST_CLASSES, UNTRAINED_NOTE, class_names, top_k
from explorer.activations.preprocess import IMAGENET_CROP, InputSpec, preprocess, spec_for_model
from explorer.models import FASHION_MNIST_MEAN, FASHION_MNIST_STD, IMAGENET_MEAN, IMAGENET_STD
from explorer.models import get_model_info

IMAGENET = InputSpec((224, 224), 3, IMAGENET_MEAN, IMAGENET_STD, IMAGENET_CROP, False)
FASHION = InputSpec((28, 28), 1, FASHION_MNIST_MEAN, FASHION_MNIST_STD, 1.0, True)


def test_imagenet_normalisation_per_channel():
    out = preprocess(Image.new("RGB", (300, 200), (255, 128, 0)), IMAGENET)
    assert out.tensor.shape == (1, 3, 224, 224) and out.tensor.dtype == torch.float32
    assert out.display.size == (224, 224) and out.display.mode == "RGB"
    for channel, value in enumerate((255, 128, 0)):
        expected = (value / 255 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
        assert out.tensor[0, channel].mean().item() == pytest.approx(expected, abs=1e-5)


def test_resize_and_centre_crop_keep_the_centre():
    # A wide image: white margins left and right, a black centre square.
    image = Image.new("L", (300, 100), 255)
    image.paste(0, (100, 0, 200, 100))
    spec = InputSpec((28, 28), 1, (0.0,), (1.0,))
    out = preprocess(image, spec, invert=False)
    assert out.display.size == (28, 28)
    pixels = np.asarray(out.display)
    # Only the central square is left (the resampling filter blurs in a little at the edge).
    assert pixels[:, 1:-1].max() == 0 and pixels.max() < 64
    # ImageNet models keep the central 87.5%, as torchvision's eval transform does.
    image = Image.new("RGB", (256, 256), (255, 255, 255))
    image.paste((0, 0, 0), (16, 16, 240, 240))
    out = preprocess(image, IMAGENET)
    assert np.asarray(out.display)[1:-1, 1:-1].max() == 0


def test_grey_and_rgb_conversion():
    grey_for_rgb = preprocess(Image.new("L", (50, 50), 200), IMAGENET)
    assert grey_for_rgb.tensor.shape[1] == 3
    rgb_for_grey = preprocess(Image.new("RGB", (50, 50), (255, 0, 0)), FASHION, invert=False)
    assert rgb_for_grey.tensor.shape == (1, 1, 28, 28) and rgb_for_grey.display.mode == "L"
    value = np.asarray(rgb_for_grey.display)[0, 0]
    assert value == round(0.299 * 255)  # ITU-R 601 luma of pure red


def test_fashion_models_invert_bright_backgrounds():
    photo = Image.new("L", (100, 100), 250)  # a dark shirt on a white table
    photo.paste(30, (30, 20, 70, 80))
    out = preprocess(photo, FASHION)
    assert any("inverted" in n for n in out.notices)
    pixels = np.asarray(out.display)
    assert pixels[0, 0] < 10 and pixels[14, 14] > 200
    expected = (pixels[0, 0] / 255 - FASHION_MNIST_MEAN[0]) / FASHION_MNIST_STD[0]
    assert out.tensor[0, 0, 0, 0].item() == pytest.approx(expected, abs=1e-5)
    dark = Image.new("L", (28, 28), 0)
    assert preprocess(dark, FASHION).notices == []
    assert np.asarray(preprocess(dark, FASHION, invert=True).display).min() == 255


def test_extreme_aspect_ratio_does_not_build_a_huge_image():
    out = preprocess(Image.new("RGB", (1, 50_000), (9, 9, 9)), IMAGENET)
    assert out.tensor.shape == (1, 3, 224, 224)


def test_specs_from_the_registry():
    small = InputSpec.from_info(get_model_info("resnet18_small"))
    assert small.in_channels == 1 and small.dark_background and small.crop_fraction == 1.0
    reference = InputSpec.from_info(get_model_info("resnet18"))
    assert reference.input_size == (224, 224) and reference.crop_fraction == IMAGENET_CROP
    out = preprocess(Image.new("L", (28, 28), 0), get_model_info("resnet18_small"))
    assert out.tensor.shape == get_model_info("resnet18_small").input_shape
    guessed = spec_for_model(torchvision.models.resnet18(), "not-registered")
    assert guessed.input_size == (224, 224) and guessed.in_channels == 3


def test_class_names():
    names = class_names(1000)
    assert len(names) == 1000 and names[0] == "tench" and names[207] == "golden retriever"
    assert class_names(10) == FASHION_MNIST_CLASSES
    assert class_names(3) == ("class 0", "class 1", "class 2")


def test_top5_with_names_and_the_untrained_note():
    logits = torch.full((1, 10), -5.0)
    logits[0, 9] = 5.0
    logits[0, 7] = 4.0
    trained = top_k(logits, trained=True)
    assert [p.name for p in trained.top[:2]] == ["Ankle boot", "Sneaker"]
    assert len(trained.top) == 5 and trained.note is None
    probabilities = [p.probability for p in trained.top]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0
    untrained = top_k(torch.randn(1, 1000), trained=False)
    assert untrained.note == UNTRAINED_NOTE and "untrained weights" in untrained.note
    assert all(p.name in class_names(1000) for p in untrained.top)
    assert untrained.as_dicts()[0].keys() == {"index", "name", "probability"}
