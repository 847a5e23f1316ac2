"""ResNet (He et al. 2015): torchvision's faithful references and our small forms."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision
from torch import nn

from explorer.models._api import register_model
from explorer.models.architectures._layers import check_small_options, scaled

_PAPER = "Deep Residual Learning for Image Recognition (He, Zhang, Ren, Sun)"
_IDEA = (
    "ResNet made very deep networks trainable: each block learns a residual F(x) = H(x) - x "
    "and outputs F(x) + x through an identity shortcut, so a block that has nothing to add "
    "can pass its input on unchanged, which cures the degradation of deep plain nets (a "
    "deeper plain net trains worse). Where the shape changes, the shortcut is a projection "
    "(1x1 conv with stride 2 and BatchNorm). "
)
_STEM = (
    "Stem: 7x7/2 conv 64, BN, ReLU, 3x3/2 max pool; four stages of 64, 128, 256 and 512 base "
    "width, stride 2 at the start of stages 2-4; global average pool; FC. "
)

# depth -> (block kind, blocks per stage, reference params, torchvision weights)
RESNET_CONFIGS: dict[int, tuple[str, tuple[int, int, int, int], int, str]] = {
    18: ("basic", (2, 2, 2, 2), 11_689_512, "ResNet18_Weights.IMAGENET1K_V1"),
    34: ("basic", (3, 4, 6, 3), 21_797_672, "ResNet34_Weights.IMAGENET1K_V1"),
    50: ("bottleneck", (3, 4, 6, 3), 25_557_032, "ResNet50_Weights.IMAGENET1K_V1"),
    101: ("bottleneck", (3, 4, 23, 3), 44_549_160, "ResNet101_Weights.IMAGENET1K_V1"),
    152: ("bottleneck", (3, 8, 36, 3), 60_192_808, "ResNet152_Weights.IMAGENET1K_V1"),
}
_BLOCK_TEXT = {
    "basic": "Basic blocks (two 3x3 convs)",
    "bottleneck": "Bottleneck blocks (1x1 to width w, 3x3 at w, 1x1 to 4w)",
}


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN; output ReLU(F(x) + shortcut(x))."""

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _projection(in_channels, width, stride)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride here, as torchvision's v1.5), 1x1 expand by 4; add; ReLU."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = _projection(in_channels, out_channels, stride)
        self.relu3 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(out + identity)


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    # The paper's option B: identity where shapes match, 1x1 conv + BN where they do not.
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class SmallResNet(nn.Module):
    """ResNet for 28x28 inputs: 3x3/1 stem conv, same stages, blocks and shortcuts."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        *,
        widths: tuple[int, int, int, int],
        in_channels: int,
        num_classes: int,
        dropout: float,
    ) -> None:
        super().__init__()
        stem = widths[0]
        self.conv1 = nn.Conv2d(in_channels, stem, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = stem
        for i, (width, blocks) in enumerate(zip(widths, layers), start=1):
            stage = []
            for j in range(blocks):
                stride = 2 if (i > 1 and j == 0) else 1
                stage.append(block(channels, width, stride))
                channels = width * block.expansion
            setattr(self, f"layer{i}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(self.flatten(self.avgpool(x))))


def _reference_builder(depth: int) -> Callable[..., nn.Module]:
    tv_builder = getattr(torchvision.models, f"resnet{depth}")

    def build(*, num_classes: int = 1000, weights: str | None = None) -> nn.Module:
        return tv_builder(weights=weights, num_classes=num_classes)

    build.__name__ = build.__qualname__ = f"resnet{depth}"
    build.__doc__ = f"torchvision's ResNet-{depth}; ``weights`` names a torchvision enum member."
    return build


def _small_builder(depth: int) -> Callable[..., nn.Module]:
    kind, layers, _, _ = RESNET_CONFIGS[depth]
    block = BasicBlock if kind == "basic" else Bottleneck
    name = f"resnet{depth}_small"

    def build(
        *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.0
    ) -> nn.Module:
        check_small_options(name, width_mult=width_mult, dropout=dropout, num_classes=num_classes)
        # A quarter of the paper's 64-128-256-512 widths keeps a batch fast on a laptop.
        widths = tuple(scaled(c, width_mult) for c in (16, 32, 64, 128))
        return SmallResNet(
            block, layers, widths=widths, in_channels=1, num_classes=num_classes, dropout=dropout
        )

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"ResNet-{depth} topology at a quarter width for 1x28x28 inputs."
    return build


for _depth, (_kind, _layers, _params, _weights) in RESNET_CONFIGS.items():
    _arch = f"{_BLOCK_TEXT[_kind]} in stages of {list(_layers)}. "
    register_model(
        name=f"resnet{_depth}",
        family="ResNet",
        form="reference",
        title=f"ResNet-{_depth}",
        paper=_PAPER,
        year=2015,
        input_size=(224, 224),
        in_channels=3,
        num_classes=1000,
        description=_IDEA + _STEM + _arch + "ILSVRC-2015 winner (3.57% top-5 error, ensemble).",
        reference_params=_params,
        weights=_weights,
    )(_reference_builder(_depth))
    register_model(
        name=f"resnet{_depth}_small",
        family="ResNet",
        form="small",
        title=f"ResNet-{_depth} (Fashion-MNIST)",
        paper=_PAPER,
        year=2015,
        input_size=(28, 28),
        in_channels=1,
        num_classes=10,
        description=(
            _IDEA
            + f"Same topology as ResNet-{_depth} ({_arch.strip()}, projection shortcuts "
            "where the shape changes) at a quarter width (16-32-64-128, times "
            "width_mult) for 1x28x28 input: the stem is a 3x3/1 conv so the 3x3/2 max "
            "pool and the stage strides give 14, 7, 4 and 2 pixel grids. BatchNorm is "
            "always on; dropout acts before the FC. Adaptive average pooling accepts "
            "other input sizes."
        ),
        normalization="fashion_mnist",
        small_of=f"resnet{_depth}",
    )(_small_builder(_depth))
