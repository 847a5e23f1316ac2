"""DenseNet (Huang et al. 2017): torchvision's references and small forms with the same blocks."""

from __future__ import annotations

from collections.abc import Callable

import torchvision
from torch import nn

from explorer.models._api import register_model
from explorer.models.architectures._layers import check_small_options, scaled

_PAPER = "Densely Connected Convolutional Networks (Huang, Liu, van der Maaten, Weinberger)"
_IDEA = (
    "DenseNet connects every layer of a dense block to every later one: each layer "
    "receives the concatenation of all earlier feature maps of the block and adds k new "
    "ones (k, the growth rate, is 32 here), so features are reused instead of relearnt "
    "and gradients reach early layers directly. A layer is BN-ReLU-1x1 conv (4k "
    "channels)-BN-ReLU-3x3 conv (k channels); a block of L layers adds L*k channels (the "
    "first block of DenseNet-121: 64 + 6*32 = 256). Transitions between blocks (BN, 1x1 "
    "conv halving the channels, 2x2 average pool) shrink grid and width. Stem like "
    "ResNet's: 7x7/2 conv 64, 3x3/2 max pool. Best paper, CVPR 2017. "
)

# depth -> (blocks, reference params, torchvision weights)
DENSENET_CONFIGS: dict[int, tuple[tuple[int, int, int, int], int, str]] = {
    121: ((6, 12, 24, 16), 7_978_856, "DenseNet121_Weights.IMAGENET1K_V1"),
    169: ((6, 12, 32, 32), 14_149_480, "DenseNet169_Weights.IMAGENET1K_V1"),
    201: ((6, 12, 48, 32), 20_013_928, "DenseNet201_Weights.IMAGENET1K_V1"),
}


def _small_densenet(
    blocks: tuple[int, int, int, int], *, num_classes: int, width_mult: float, dropout: float
) -> nn.Module:
    growth, stem = scaled(8, width_mult), scaled(16, width_mult)
    model = torchvision.models.DenseNet(
        growth_rate=growth,
        block_config=blocks,
        num_init_features=stem,
        bn_size=4,
        drop_rate=dropout,
        num_classes=num_classes,
    )
    # 1x28x28 input: a 3x3/1 first conv (the 3x3/2 max pool still halves to 14), and
    # transitions that round up (14 -> 7 -> 4 -> 2) so no block runs on a 1x1 grid.
    model.features.conv0 = nn.Conv2d(1, stem, 3, padding=1, bias=False)
    nn.init.kaiming_normal_(model.features.conv0.weight)
    for i in range(1, len(blocks)):
        getattr(model.features, f"transition{i}").pool = nn.AvgPool2d(2, stride=2, ceil_mode=True)
    return model


def _reference_builder(depth: int) -> Callable[..., nn.Module]:
    tv_builder = getattr(torchvision.models, f"densenet{depth}")

    def build(*, num_classes: int = 1000, weights: str | None = None) -> nn.Module:
        return tv_builder(weights=weights, num_classes=num_classes)

    build.__name__ = build.__qualname__ = f"densenet{depth}"
    build.__doc__ = f"torchvision's DenseNet-{depth}; ``weights`` names a torchvision enum member."
    return build


def _small_builder(depth: int) -> Callable[..., nn.Module]:
    blocks = DENSENET_CONFIGS[depth][0]
    name = f"densenet{depth}_small"

    def build(*, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.0) -> nn.Module:
        check_small_options(name, width_mult=width_mult, dropout=dropout, num_classes=num_classes)
        return _small_densenet(blocks, num_classes=num_classes, width_mult=width_mult, dropout=dropout)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"DenseNet-{depth} topology with growth rate 8 for 1x28x28 inputs."
    return build


for _depth, (_blocks, _params, _weights) in DENSENET_CONFIGS.items():
    _arch = f"DenseNet-{_depth}: blocks of {list(_blocks)} layers. "
    register_model(
        name=f"densenet{_depth}",
        family="DenseNet",
        form="reference",
        title=f"DenseNet-{_depth}",
        paper=_PAPER,
        year=2017,
        input_size=(224, 224),
        in_channels=3,
        num_classes=1000,
        description=_IDEA + _arch + "torchvision's implementation of the paper.",
        reference_params=_params,
        weights=_weights,
    )(_reference_builder(_depth))
    register_model(
        name=f"densenet{_depth}_small",
        family="DenseNet",
        form="small",
        title=f"DenseNet-{_depth} (Fashion-MNIST)",
        paper=_PAPER,
        year=2017,
        input_size=(28, 28),
        in_channels=1,
        num_classes=10,
        description=_IDEA
        + _arch
        + "Small form: the same dense blocks, bottleneck layers and compressing "
        "transitions with growth rate 8 and a 16-channel stem (times width_mult) for "
        "1x28x28 input; the first conv is 3x3/1 and the transitions' pools round up, "
        "so the blocks run on 14, 7, 4 and 2 pixel grids. BatchNorm is always on; "
        "dropout acts after each dense layer (the paper's drop rate).",
        normalization="fashion_mnist",
        small_of=f"densenet{_depth}",
    )(_small_builder(_depth))
