"""Small models and data for the training tests: a few hundred images, tiny widths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explorer.train import RunHistory, load_fashion_mnist


def tiny_cnn() -> nn.Module:
    """A two-conv net small enough to train in well under a second on the tiny set."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(4),
        nn.Flatten(),
        nn.Linear(4 * 7 * 7, 10),
    )


@pytest.fixture
def make_tiny():
    """The tiny net's builder (a fixture: test modules cannot import conftest)."""
    return tiny_cnn


@pytest.fixture
def tiny_data(tiny_fashion_root):
    return load_fashion_mnist(tiny_fashion_root, "cpu", seed=0)


@pytest.fixture
def history(tmp_path):
    return RunHistory(tmp_path / "runs")


@pytest.fixture(autouse=True)
def _few_threads():
    # The machine is shared; tiny models gain nothing from more threads.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
