"""The CIFAR-10 networks of He et al. 2016 (§4.2), plain and residual, for 1x28x28 Fashion-MNIST
(no Qt). Lesson 6 (residual learning) trains them; they are not in the zoo.

The paper's form: a 3x3 conv with 16 filters, then three stages of ``2n`` 3x3 layers with
16, 32 and 64 filters on maps of 32, 16 and 8 pixels (28, 14 and 7 here), the first conv of
stages 2 and 3 with stride 2, global average pooling and a 10-way fully connected layer:
``6n + 2`` weighted layers. Batch norm follows every conv, before the ReLU (§3.4). The
residual nets put an identity shortcut around each pair of 3x3 layers; where the stage
changes (half the map, twice the filters) the shortcut is the paper's **option A**: the
input subsampled by 2 and padded with zero channels, which adds no parameters, so a plain
net and its residual twin have exactly the same parameters (Table 6: ResNet-20 0.27M,
ResNet-56 0.85M). The plain nets are the same stacks without the shortcuts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# §4.2: filters per stage, on maps halved between stages.
STAGE_WIDTHS = (16, 32, 64)

# Table 6's parameter counts (CIFAR-10, 3-channel input), by depth.
PAPER_PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by ``stride`` and append zero channels up to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # F.pad pads the last dimensions first: (W, W, H, H, C before, C after).
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; with ``residual`` the input is added before the last ReLU.

    Args:
        in_channels, out_channels: the block's widths.
        stride: 2 on the first block of stages 2 and 3.
        residual: add the shortcut (identity, or option A where the shape changes).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()
        self.residual = residual
        if residual and (stride != 1 or in_channels != out_channels):
            self.shortcut: nn.Module = ZeroPadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + self.shortcut(x)
        return self.relu2(out)


class CifarNet(nn.Module):
    """The §4.2 network of ``depth = 6n + 2`` layers, plain or residual.

    Args:
        depth: 8, 14, 20, 32, 44, 56, 110, ... (``(depth - 2) % 6 == 0``).
        residual: ResNet (identity shortcuts, option A) or the plain net.
        in_channels, num_classes: 1 and 10 for Fashion-MNIST.
    """

    def __init__(self, depth: int, *, residual: bool, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.depth, self.residual = depth, residual
        self.conv1 = nn.Conv2d(in_channels, STAGE_WIDTHS[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        self.relu = nn.ReLU()
        channels = STAGE_WIDTHS[0]
        for stage, width in enumerate(STAGE_WIDTHS, start=1):
            blocks = []
            for index in range(n):
                stride = 2 if stage > 1 and index == 0 else 1
                blocks.append(BasicBlock(channels, width, stride, residual))
                channels = width
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # §3.4: "We initialize the weights as in [13]" (He et al. 2015), BN scale 1, shift 0.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))


def cifar_net(depth: int, *, residual: bool, in_channels: int = 1) -> CifarNet:
    """ResNet-``depth`` (``residual=True``) or plain-``depth`` of §4.2 for 1x28x28 input."""
    return CifarNet(depth, residual=residual, in_channels=in_channels)


def weighted_layers(model: nn.Module) -> int:
    """Conv and linear layers of ``model``: the depth the paper counts (6n + 2)."""
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
