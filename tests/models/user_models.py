"""A CNN that is not in the zoo, written the ways a user brings one: a Python file with a
class (and a state dict of its weights) and a ``torch.export`` program (``.pt2``).

It has what the generic views must find by themselves: a residual addition, a
concatenation of two branches, a ReLU6 and a global-pooling head over 1x28x28 inputs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

NET_SOURCE = textwrap.dedent('''
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU()

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            return self.relu(x + self.bn2(self.conv2(y)))


    class TinyNet(nn.Module):
        def __init__(self, width=8, classes=10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
            self.block = Block(width)
            self.left = nn.Conv2d(width, width, 1)
            self.right = nn.Conv2d(width, width, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.act = nn.ReLU6()
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))

        def forward(self, x):
            x = self.block(self.stem(x))
            x = torch.cat([self.left(x), self.right(x)], dim=1)
            return self.head(self.act(self.pool(x)))
''')


def tiny_params(width: int = 8, classes: int = 10) -> int:
    """TinyNet's parameter count, by hand: what every view must report."""
    stem = width * 9 + width + 2 * width
    block = 2 * (width * width * 9 + 2 * width)
    branches = (width * width + width) + (width * width * 9 + width)
    return stem + block + branches + 2 * width * classes + classes


def write_python_model(folder: Path, seed: int = 3) -> tuple[Path, Path, object]:
    """(net.py, a state dict of a seeded TinyNet, that model in eval mode)."""
    import importlib.util

    import torch

    path = folder / "mynet.py"
    path.write_text(NET_SOURCE)
    spec = importlib.util.spec_from_file_location("tests_user_mynet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(seed)
    model = module.TinyNet().eval()
    with torch.no_grad():  # batch norm statistics that are not the identity
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    state = folder / "mynet_state.pt"
    torch.save(model.state_dict(), state)
    return path, state, model


def write_program(folder: Path, model, name: str = "mynet.pt2") -> Path:
    """``model`` exported on a 1x1x28x28 example and saved as a ``.pt2`` program."""
    import torch

    program = torch.export.export(model.eval(), (torch.zeros(1, 1, 28, 28),))
    path = folder / name
    torch.export.save(program, path)
    return path
