"""The test images a knockout or a top-images scan is measured on (no Qt): the first N of
Fashion-MNIST's test split, as stored and prepared for the model.

The knockout command, the window's knockout pane and its top-images scan all read them
through here, so they check the model and prepare the images the same way.
"""

from __future__ import annotations

import dataclasses

import torch

from explorer.errors import UserError
from explorer.models import get_model_info
from explorer.settings import data_dir as resolve_data_dir
from explorer.train.augment import prepare_batch
from explorer.train.data import load_fashion_mnist


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """The first test images of Fashion-MNIST for one model.

    Attributes:
        raw: the images as stored, (N, 28, 28) uint8.
        labels: their classes, (N,).
        x: the model's input: its size, channels and normalisation, (N, 1, H, W) float.
    """

    raw: torch.Tensor
    labels: torch.Tensor
    x: torch.Tensor


def check_fashion_model(info) -> None:
    """Knockouts and top images are measured on Fashion-MNIST: the model must take it.

    Raises:
        UserError: the model (a :class:`~explorer.models.ModelInfo`) is not a 10-class,
            one-channel model.
    """
    if info.num_classes != 10 or info.in_channels != 1:
        raise UserError(f"{info.name} is not trained on Fashion-MNIST; knock out parts of a small "
                        "form (`cnn-explorer models` lists them)")


def held_out(name: str, data_dir: str | None, n: int) -> HeldOut:
    """The first ``n`` test images, prepared for registered model ``name``.

    Args:
        name: a registered model that takes Fashion-MNIST.
        data_dir: the folder holding FashionMNIST/raw (None or "": the settings' folder).
        n: how many test images (at least 1).

    Raises:
        UserError: not a Fashion-MNIST model, ``n`` below 1, or no data in ``data_dir``.
    """
    info = get_model_info(name)
    check_fashion_model(info)
    if n < 1:
        raise UserError(f"--images must be at least 1, got {n}")
    data = load_fashion_mnist(resolve_data_dir(data_dir))
    raw, labels = data.test_images[:n], data.test_labels[:n]
    mean, std = info.mean_std
    x = prepare_batch(raw, mean=mean[0], std=std[0], size=tuple(info.input_size), in_channels=1)
    return HeldOut(raw, labels, x)
