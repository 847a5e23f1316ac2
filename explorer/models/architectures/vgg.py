"""VGG (Simonyan & Zisserman 2014): torchvision's references and our small forms."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torchvision
from torch import nn

from explorer.models._api import register_model
from explorer.models.architectures._layers import check_small_options, he_init_, scaled

_PAPER = "Very Deep Convolutional Networks for Large-Scale Image Recognition (Simonyan, Zisserman)"
_IDEA = (
    "VGG showed that depth built from one simple, uniform block works: every conv is "
    "3x3/1 with 'same' padding, every max pool 2x2/2 halves the grid, and only the number "
    "of kernels changes between the five blocks (64, 128, 256, 512, 512). Two stacked 3x3 "
    "convs see a 5x5 field with 18 weights per channel pair instead of 25 and add a "
    "non-linearity. 224x224x3 input, 7x7x512 before the classifier FC 4096, FC 4096, FC "
    "1000, whose layers hold most of the parameters (123,642,856 of VGG-16's 138,357,544). "
    "ILSVRC-2014 runner-up in classification. "
)

# depth -> (convs per block, reference params, torchvision weights)
VGG_CONFIGS: dict[int, tuple[tuple[int, ...], int, str]] = {
    11: ((1, 1, 2, 2, 2), 132_863_336, "VGG11_Weights.IMAGENET1K_V1"),
    13: ((2, 2, 2, 2, 2), 133_047_848, "VGG13_Weights.IMAGENET1K_V1"),
    16: ((2, 2, 3, 3, 3), 138_357_544, "VGG16_Weights.IMAGENET1K_V1"),
    19: ((2, 2, 4, 4, 4), 143_667_240, "VGG19_Weights.IMAGENET1K_V1"),
}
BLOCK_WIDTHS = (64, 128, 256, 512, 512)


def _small_vgg(
    convs: tuple[int, ...],
    *,
    num_classes: int,
    width_mult: float,
    dropout: float,
    batch_norm: bool,
) -> nn.Sequential:
    """VGG blocks at a quarter width; ceil-mode pools so 28 -> 14 -> 7 -> 4 -> 2 -> 1."""
    features: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 1
    for b, (count, width) in enumerate(zip(convs, BLOCK_WIDTHS), start=1):
        out = scaled(width // 4, width_mult)
        for c in range(1, count + 1):
            features[f"conv{b}_{c}"] = nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm)
            if batch_norm:
                features[f"bn{b}_{c}"] = nn.BatchNorm2d(out)
            features[f"relu{b}_{c}"] = nn.ReLU()
            channels = out
        features[f"pool{b}"] = nn.MaxPool2d(2, stride=2, ceil_mode=True)
    hidden = scaled(256, width_mult)
    return nn.Sequential(
        OrderedDict(
            features=nn.Sequential(features),
            avgpool=nn.AdaptiveAvgPool2d((1, 1)),
            flatten=nn.Flatten(),
            fc1=nn.Linear(channels, hidden),
            relu1=nn.ReLU(),
            dropout1=nn.Dropout(dropout),
            fc2=nn.Linear(hidden, hidden),
            relu2=nn.ReLU(),
            dropout2=nn.Dropout(dropout),
            fc3=nn.Linear(hidden, num_classes),
        )
    )


def _reference_builder(depth: int) -> Callable[..., nn.Module]:
    tv_builder = getattr(torchvision.models, f"vgg{depth}")

    def build(*, num_classes: int = 1000, weights: str | None = None) -> nn.Module:
        return tv_builder(weights=weights, num_classes=num_classes)

    build.__name__ = build.__qualname__ = f"vgg{depth}"
    build.__doc__ = f"torchvision's VGG-{depth}; ``weights`` names a torchvision enum member."
    return build


def _small_builder(depth: int) -> Callable[..., nn.Module]:
    convs = VGG_CONFIGS[depth][0]
    name = f"vgg{depth}_small"

    def build(
        *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.5, batch_norm: bool = False
    ) -> nn.Module:
        check_small_options(name, width_mult=width_mult, dropout=dropout, num_classes=num_classes)
        model = _small_vgg(
            convs, num_classes=num_classes, width_mult=width_mult, dropout=dropout, batch_norm=batch_norm
        )
        # Xavier leaves these 8-16 layer plain ReLU stacks at chance for epochs (_layers.he_init_).
        return he_init_(model)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"VGG-{depth} blocks at a quarter width for 1x28x28 inputs."
    return build


for _depth, (_convs, _params, _weights) in VGG_CONFIGS.items():
    _blocks = f"Convs per block {list(_convs)}, {sum(_convs)} convs + 3 FC = {_depth} weight layers. "
    register_model(
        name=f"vgg{_depth}",
        family="VGG",
        form="reference",
        title=f"VGG-{_depth}",
        paper=_PAPER,
        year=2014,
        input_size=(224, 224),
        in_channels=3,
        num_classes=1000,
        description=_IDEA + _blocks + "torchvision's implementation of the paper.",
        reference_params=_params,
        weights=_weights,
    )(_reference_builder(_depth))
    register_model(
        name=f"vgg{_depth}_small",
        family="VGG",
        form="small",
        title=f"VGG-{_depth} (Fashion-MNIST)",
        paper=_PAPER,
        year=2014,
        input_size=(28, 28),
        in_channels=1,
        num_classes=10,
        description=_IDEA
        + _blocks
        + "Small form: same five blocks of 3x3 convs at a quarter width (16-32-64-128-128, "
        "times width_mult) for 1x28x28 input; the 2x2 max pools round up (28, 14, 7, 4, 2, "
        "1) so five of them fit, then FC 256, FC 256 with dropout, FC 10. batch_norm adds "
        "BN after every conv (the later VGG-BN). Adaptive average pooling accepts other "
        "input sizes.",
        normalization="fashion_mnist",
        small_of=f"vgg{_depth}",
    )(_small_builder(_depth))
