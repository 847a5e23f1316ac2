"""A small model trained for a few seconds on the tiny generated Fashion-MNIST look-alike,
whose classes are bars at class-specific rows: a trained model has something to show."""

from __future__ import annotations

import pytest
import torch

from explorer.models import get_model, get_model_info
from explorer.train import load_fashion_mnist
from explorer.train.augment import prepare_batch

TRAINED_MODEL = "lenet_small"


def batch(name: str, images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> the normalised batch model ``name`` takes."""
    info = get_model_info(name)
    (mean,), (std,) = info.mean_std
    return prepare_batch(images, mean=mean, std=std, size=tuple(info.input_size), in_channels=info.in_channels)


@pytest.fixture(scope="session")
def tiny_data(tiny_fashion_root):
    return load_fashion_mnist(tiny_fashion_root)


@pytest.fixture(scope="session")
def trained(tiny_data, tmp_path_factory):
    """(model in eval mode, path of its saved state dict), trained to fit the tiny set."""
    torch.manual_seed(0)
    model = get_model(TRAINED_MODEL)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = batch(TRAINED_MODEL, tiny_data.train_images), tiny_data.train_labels
    model.train()
    for _ in range(12):
        for start in range(0, len(y), 64):
            loss = torch.nn.functional.cross_entropy(model(x[start:start + 64]), y[start:start + 64])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    path = tmp_path_factory.mktemp("weights") / f"{TRAINED_MODEL}.pt"
    torch.save(model.state_dict(), path)
    return model, path
