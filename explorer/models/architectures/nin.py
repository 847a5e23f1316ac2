"""Network in Network (Lin, Chen, Yan 2013), in d2l's form, and a small form."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from explorer.models._api import register_model
from explorer.models.architectures._layers import check_small_options, he_init_, scaled

_PAPER = "Network In Network (Lin, Chen, Yan)"
_IDEA = (
    "NiN replaces the linear filter of a conv layer by a small multilayer perceptron "
    "slid over the image: each block is a conv followed by two 1x1 convs, a per-pixel "
    "MLP across channels. 1x1 convs change the channel count cheaply and can stand in "
    "for fully connected layers; the last block outputs one map per class and global "
    "average pooling turns them into class scores, with no FC layers at all (fewer "
    "parameters, less overfitting). GoogLeNet's 1x1 reductions come from here. "
)

# (out channels, kernel, stride, padding) of each block's first conv; the last block's
# width is the number of classes. Max pool 3/2 after the first three blocks.
NIN_BLOCKS: tuple[tuple[int | None, int, int, int], ...] = (
    (96, 11, 4, 0),
    (256, 5, 1, 2),
    (384, 3, 1, 1),
    (None, 3, 1, 1),
)


def _nin_block(
    in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, batch_norm: bool
) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    convs = ((in_channels, kernel, stride, padding), (out_channels, 1, 1, 0), (out_channels, 1, 1, 0))
    for i, (n_in, k, s, p) in enumerate(convs, start=1):
        layers[f"conv{i}"] = nn.Conv2d(n_in, out_channels, k, stride=s, padding=p, bias=not batch_norm)
        if batch_norm:
            layers[f"bn{i}"] = nn.BatchNorm2d(out_channels)
        layers[f"relu{i}"] = nn.ReLU()
    return nn.Sequential(layers)


def _nin(
    *,
    in_channels: int,
    num_classes: int,
    width: float = 1.0,
    small: bool = False,
    dropout: float = 0.5,
    batch_norm: bool = False,
) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = in_channels
    for i, (out, kernel, stride, padding) in enumerate(NIN_BLOCKS, start=1):
        out = num_classes if out is None else scaled(out, width)
        if small and i == 1:
            kernel, stride, padding = 5, 1, 2
        layers[f"block{i}"] = _nin_block(channels, out, kernel, stride, padding, batch_norm)
        if i < len(NIN_BLOCKS):
            layers[f"pool{i}"] = nn.MaxPool2d(3, stride=2)
        if i == len(NIN_BLOCKS) - 1 and dropout > 0:
            layers["dropout"] = nn.Dropout(dropout)
        channels = out
    layers["avgpool"] = nn.AdaptiveAvgPool2d((1, 1))
    layers["flatten"] = nn.Flatten()
    return nn.Sequential(layers)


@register_model(
    name="nin",
    family="NiN",
    form="reference",
    title="NiN",
    paper=_PAPER,
    year=2013,
    input_size=(224, 224),
    in_channels=3,
    num_classes=1000,
    description=_IDEA
    + "Built as Dive into Deep Learning does for 224x224 input: four NiN blocks (11x11/4 "
    "96, 5x5 256, 3x3 384, 3x3 num_classes), each with two 1x1 convs and ReLUs, max pool "
    "3/2 after the first three, dropout 0.5 before the last, global average pooling.",
)
def nin(*, num_classes: int = 1000) -> nn.Module:
    """d2l's NiN for 224x224 ImageNet-sized input."""
    return _nin(in_channels=3, num_classes=num_classes)


@register_model(
    name="nin_small",
    family="NiN",
    form="small",
    title="NiN (Fashion-MNIST)",
    paper=_PAPER,
    year=2013,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description=_IDEA
    + "Small form: the same four NiN blocks, three max pools and global average pooling "
    "at a third of the width (32, 85, 128, then num_classes; times width_mult) for 1x28x28 "
    "input, with a 5x5/1 first conv instead of 11x11/4 (grids 28, 13, 6, 2). batch_norm "
    "adds BN after every conv.",
    normalization="fashion_mnist",
    small_of="nin",
)
def nin_small(
    *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.5, batch_norm: bool = False
) -> nn.Module:
    """NiN topology at a third of the width for 1x28x28 inputs."""
    check_small_options("nin_small", width_mult=width_mult, dropout=dropout, num_classes=num_classes)
    model = _nin(
        in_channels=1,
        num_classes=num_classes,
        width=width_mult / 3,
        small=True,
        dropout=dropout,
        batch_norm=batch_norm,
    )
    # Twelve plain ReLU convs: Xavier left it at 0.67 test accuracy after 5 of 8 epochs of
    # Adam, where He init trains the similar small VGGs at once (_layers.he_init_).
    return he_init_(model)
