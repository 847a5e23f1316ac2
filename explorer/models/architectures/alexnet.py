"""AlexNet (Krizhevsky et al. 2012): paper-faithful, two-GPU split, torchvision's, small."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torchvision
from torch import nn

from explorer.models._api import register_model
from explorer.models.architectures._layers import (
    check_small_options,
    local_response_norm,
    scaled,
    xavier_init_,
)

_PAPER = "ImageNet Classification with Deep Convolutional Neural Networks (Krizhevsky, Sutskever, Hinton)"
_IDEA = (
    "AlexNet showed that a deep CNN trained on GPUs wins large-scale image recognition: "
    "ILSVRC-2012 top-5 error 15.3% against 26.2% for the runner-up. Five conv layers and "
    "three FC layers, ReLU everywhere but the softmax (trains several times faster than "
    "tanh), local response normalisation after conv1 and conv2, overlapping 3x3/2 max "
    "pooling, dropout 0.5 on the FC layers, data augmentation and SGD with momentum. "
)
_LAYERS = (
    "227x227x3 input: conv 96 11x11/4, max pool 3/2, conv 256 5x5, max pool 3/2, conv 384 "
    "3x3, conv 384 3x3, conv 256 3x3, max pool 3/2, FC 4096, FC 4096, FC 1000. "
)

# (out channels, kernel, stride, padding, groups in the two-GPU split: 2 = each GPU reads
# only its own half, LRN+pool after?)
CONV_TABLE: tuple[tuple[int, int, int, int, int, str], ...] = (
    (96, 11, 4, 0, 1, "lrn+pool"),
    (256, 5, 1, 2, 2, "lrn+pool"),
    (384, 3, 1, 1, 1, ""),
    (384, 3, 1, 1, 2, ""),
    (256, 3, 1, 1, 2, "pool"),
)


def _alexnet(
    *,
    in_channels: int,
    num_classes: int,
    width: float = 1.0,
    fc_width: int = 4096,
    small: bool = False,
    batch_norm: bool = False,
    dropout: float = 0.5,
) -> nn.Sequential:
    """AlexNet from CONV_TABLE; ``small`` swaps conv1 for 5x5/1 and pools adaptively."""
    features: OrderedDict[str, nn.Module] = OrderedDict()
    channels = in_channels
    for i, (out, kernel, stride, padding, _, after) in enumerate(CONV_TABLE, start=1):
        out = scaled(out, width)
        if small and i == 1:
            kernel, stride, padding = 5, 1, 2
        features[f"conv{i}"] = nn.Conv2d(
            channels, out, kernel, stride=stride, padding=padding,
            bias=not batch_norm,
        )  # fmt: skip
        if batch_norm:
            features[f"bn{i}"] = nn.BatchNorm2d(out)
        features[f"relu{i}"] = nn.ReLU()
        # With BatchNorm, LRN is redundant (BN normalises the same responses).
        if "lrn" in after and not batch_norm:
            features[f"lrn{i}"] = local_response_norm()
        if "pool" in after:
            features[f"pool{i}"] = nn.MaxPool2d(3, stride=2)
        channels = out
    pooled = 2 if small else 6
    layers: OrderedDict[str, nn.Module] = OrderedDict(features=nn.Sequential(features))
    if small:
        # Identity at 28x28 (the grid is 2x2 here); lets a user's resize work.
        layers["avgpool"] = nn.AdaptiveAvgPool2d((pooled, pooled))
    layers["flatten"] = nn.Flatten()
    fc_in = channels * pooled * pooled
    # The paper drops the outputs of the two hidden FC layers.
    layers["fc6"] = nn.Linear(fc_in, fc_width)
    layers["relu6"] = nn.ReLU()
    layers["dropout6"] = nn.Dropout(dropout)
    layers["fc7"] = nn.Linear(fc_width, fc_width)
    layers["relu7"] = nn.ReLU()
    layers["dropout7"] = nn.Dropout(dropout)
    layers["fc8"] = nn.Linear(fc_width, num_classes)
    return nn.Sequential(layers)


class TwoGPUAlexNet(nn.Module):
    """AlexNet as the paper splits it over two GPUs (its Figure 2): two lanes of half width.

    Each lane holds half the kernels of every layer. conv2, conv4 and conv5 read only
    their own lane's maps; conv3 and the FC layers read both lanes (the GPUs communicate
    there), which the forward shows as a concatenation the two lanes then share. With
    these connections it has 60,965,224 parameters, the same count as the one-device net
    with groups=2 on conv2, conv4 and conv5.
    """

    def __init__(self, *, in_channels: int = 3, num_classes: int = 1000, fc_width: int = 4096,
                 dropout: float = 0.5) -> None:
        super().__init__()
        half = [out // 2 for out, *_ in CONV_TABLE]
        for gpu in (1, 2):
            for i, (_, kernel, stride, padding, groups, after) in enumerate(CONV_TABLE, start=1):
                # groups 2: reads its own lane only; 1 (conv3): both lanes; conv1: the image
                reads = in_channels if i == 1 else half[i - 2] * (1 if groups == 2 else 2)
                layers: OrderedDict[str, nn.Module] = OrderedDict(
                    conv=nn.Conv2d(reads, half[i - 1], kernel, stride=stride, padding=padding),
                    relu=nn.ReLU(),
                )
                if "lrn" in after:
                    layers["lrn"] = local_response_norm()
                if "pool" in after:
                    layers["pool"] = nn.MaxPool2d(3, stride=2)
                setattr(self, f"conv{i}_gpu{gpu}", nn.Sequential(layers))
            fc_in = 2 * half[-1] * 6 * 6
            for i, n_in in ((6, fc_in), (7, fc_width)):
                setattr(self, f"fc{i}_gpu{gpu}", nn.Sequential(OrderedDict(
                    fc=nn.Linear(n_in, fc_width // 2), relu=nn.ReLU(), dropout=nn.Dropout(dropout),
                )))  # fmt: skip
        self.flatten = nn.Flatten()
        self.fc8 = nn.Linear(fc_width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv1_gpu1(x), self.conv1_gpu2(x)
        a, b = self.conv2_gpu1(a), self.conv2_gpu2(b)
        both = torch.cat([a, b], 1)  # the GPUs exchange their maps before conv3
        a, b = self.conv3_gpu1(both), self.conv3_gpu2(both)
        a, b = self.conv4_gpu1(a), self.conv4_gpu2(b)
        a, b = self.conv5_gpu1(a), self.conv5_gpu2(b)
        both = torch.cat([self.flatten(a), self.flatten(b)], 1)  # and before each FC layer
        both = torch.cat([self.fc6_gpu1(both), self.fc6_gpu2(both)], 1)
        both = torch.cat([self.fc7_gpu1(both), self.fc7_gpu2(both)], 1)
        return self.fc8(both)


@register_model(
    name="alexnet",
    family="AlexNet",
    form="reference",
    title="AlexNet",
    paper=_PAPER,
    year=2012,
    input_size=(227, 227),
    in_channels=3,
    num_classes=1000,
    description=_IDEA
    + _LAYERS
    + "Built paper-faithful on one device (every conv sees all channels of the layer "
    "before): 62,378,344 parameters; the paper says '60 million'.",
    reference_params=62_378_344,
)
def alexnet(*, num_classes: int = 1000) -> nn.Module:
    """AlexNet as in the paper, on one device (no grouped convs)."""
    return _alexnet(in_channels=3, num_classes=num_classes)


@register_model(
    name="alexnet_split",
    family="AlexNet",
    form="reference",
    title="AlexNet (two-GPU split)",
    paper=_PAPER,
    year=2012,
    input_size=(227, 227),
    in_channels=3,
    num_classes=1000,
    description=_IDEA
    + _LAYERS
    + "This form keeps the paper's split over two GPUs as two parallel lanes of half "
    "width (gpu1, gpu2): conv2, conv4 and conv5 only see the half of the previous layer "
    "on their own GPU, while conv3 and the FC layers read both lanes, where the GPUs "
    "communicate: 60,965,224 parameters.",
    reference_params=60_965_224,
    variant_of="alexnet",
)
def alexnet_split(*, num_classes: int = 1000) -> nn.Module:
    """AlexNet with the paper's two-GPU connectivity: two lanes crossing at conv3 and the FCs."""
    return TwoGPUAlexNet(in_channels=3, num_classes=num_classes)


@register_model(
    name="alexnet_tv",
    family="AlexNet",
    form="reference",
    title="AlexNet (torchvision variant)",
    paper="One weird trick for parallelizing convolutional neural networks (Krizhevsky)",
    year=2014,
    input_size=(224, 224),
    in_channels=3,
    num_classes=1000,
    description="torchvision's alexnet, the one with ImageNet weights. It is NOT the 2012 "
    "paper's network but the later 'one weird trick' variant: 64-192-384-256-256 conv "
    "filters, no LRN, adaptive 6x6 average pooling before the classifier; 61,100,840 "
    "parameters.",
    reference_params=61_100_840,
    weights="AlexNet_Weights.IMAGENET1K_V1",
    variant_of="alexnet",
)
def alexnet_tv(*, num_classes: int = 1000, weights: str | None = None) -> nn.Module:
    """torchvision's alexnet; ``weights`` names a torchvision enum member."""
    return torchvision.models.alexnet(weights=weights, num_classes=num_classes)


@register_model(
    name="alexnet_small",
    family="AlexNet",
    form="small",
    title="AlexNet (Fashion-MNIST)",
    paper=_PAPER,
    year=2012,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description=_IDEA
    + "Same topology as the paper (five convs, LRN after conv1 and conv2, three "
    "overlapping max pools, FC-FC-FC with dropout) at a quarter of the conv widths and an "
    "eighth of the FC width (times width_mult) for 1x28x28 input: conv1 is 5x5/1 instead "
    "of 11x11/4, so the grids are 28, 13, 6 and 2. batch_norm adds BN after every conv "
    "and drops LRN. Adaptive average pooling accepts other input sizes.",
    normalization="fashion_mnist",
    small_of="alexnet",
)
def alexnet_small(
    *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.5, batch_norm: bool = False
) -> nn.Module:
    """AlexNet topology at reduced width for 1x28x28 inputs."""
    check_small_options("alexnet_small", width_mult=width_mult, dropout=dropout, num_classes=num_classes)
    model = _alexnet(
        in_channels=1,
        num_classes=num_classes,
        width=0.25 * width_mult,
        fc_width=scaled(512, width_mult),
        small=True,
        batch_norm=batch_norm,
        dropout=dropout,
    )
    return xavier_init_(model)
