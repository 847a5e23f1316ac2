"""MobileNet v1 (Howard et al. 2017, ours) and v2 (Sandler et al. 2018, torchvision's)."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torchvision
from torch import nn
from torchvision.ops.misc import Conv2dNormActivation

from explorer.models._api import register_model
from explorer.models.architectures._layers import check_small_options, conv_bn_relu, scaled

_V1_PAPER = (
    "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications "
    "(Howard et al.)"
)
_V1_IDEA = (
    "MobileNet v1 is a VGG-like stack in which every standard conv after the first is a "
    "depthwise separable conv: a 3x3 depthwise conv (one filter per input channel) "
    "followed by a 1x1 pointwise conv that mixes the channels, each with BN and ReLU as "
    "the paper builds it (Sec. 3.2, Fig. 3; Google's TF-Slim release and MobileNet v2 use "
    "ReLU6 = min(max(0, x), 6), kept for low-precision arithmetic). For 3 input and 256 output "
    "channels a standard 3x3 conv needs 6,912 weights, the separable pair 795: roughly "
    "8-9 times less computation for a small loss of accuracy. A width multiplier alpha "
    "thins every layer and a resolution multiplier shrinks the input. "
)
_V2_PAPER = "MobileNetV2: Inverted Residuals and Linear Bottlenecks (Sandler et al.)"
_V2_IDEA = (
    "MobileNet v2's inverted residual block expands a narrow input with a 1x1 conv (t = "
    "6) and ReLU6, filters it with a 3x3 depthwise conv and ReLU6, and projects it back "
    "with a 1x1 conv whose output is linear (no activation: a ReLU on few channels "
    "destroys information). The shortcut joins the narrow ends, only when the stride is 1 "
    "and the channels match. ResNet's bottleneck squeezes then expands; v2 expands then "
    "squeezes. "
)

# (output channels, stride) of the 13 depthwise separable blocks, the paper's Table 1.
V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv + BN + ReLU, then 1x1 pointwise conv + BN + ReLU (the paper's
    Fig. 3; TF-Slim's release uses ReLU6)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.depthwise = conv_bn_relu(
            in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels,
        )  # fmt: skip
        self.pointwise = conv_bn_relu(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def _mobilenet_v1(
    *, in_channels: int, num_classes: int, width: float = 1.0, small: bool = False, dropout: float = 0.0
) -> nn.Sequential:
    stem = scaled(32, width)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    # The small form keeps a 28x28 grid here: stride 1 instead of 2.
    layers["conv1"] = conv_bn_relu(
        in_channels, stem, 3, stride=1 if small else 2, padding=1
    )
    channels = stem
    for i, (out, stride) in enumerate(V1_BLOCKS, start=2):
        out = scaled(out, width)
        layers[f"block{i}"] = DepthwiseSeparable(channels, out, stride)
        channels = out
    layers["avgpool"] = nn.AdaptiveAvgPool2d((1, 1))
    layers["flatten"] = nn.Flatten()
    if dropout > 0:
        layers["dropout"] = nn.Dropout(dropout)
    layers["fc"] = nn.Linear(channels, num_classes)
    model = nn.Sequential(layers)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
    return model


@register_model(
    name="mobilenet_v1",
    family="MobileNet",
    form="reference",
    title="MobileNet v1",
    paper=_V1_PAPER,
    year=2017,
    input_size=(224, 224),
    in_channels=3,
    num_classes=1000,
    description=_V1_IDEA
    + "Built as the paper's Table 1 (alpha 1.0, 224x224): 3x3/2 conv 32, 13 separable "
    "blocks (64, 128/2, 128, 256/2, 256, 512/2, 5x512, 1024/2, 1024), every conv without "
    "bias and followed by BN and ReLU, global average pool, FC 1000: 4,231,976 "
    "parameters (the paper's 4.2 M). torchvision has no MobileNet v1.",
    reference_params=4_231_976,
)
def mobilenet_v1(*, num_classes: int = 1000) -> nn.Module:
    """MobileNet v1, alpha 1.0."""
    return _mobilenet_v1(in_channels=3, num_classes=num_classes)


@register_model(
    name="mobilenet_v1_small",
    family="MobileNet",
    form="small",
    title="MobileNet v1 (Fashion-MNIST)",
    paper=_V1_PAPER,
    year=2017,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description=_V1_IDEA
    + "Small form: the same 13 depthwise separable blocks with alpha 0.25 (times "
    "width_mult) for 1x28x28 input; the first conv has stride 1, so the grids are 28, "
    "14, 7, 4 and 2. BatchNorm is always on; dropout acts before the FC.",
    normalization="fashion_mnist",
    small_of="mobilenet_v1",
)
def mobilenet_v1_small(
    *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.0
) -> nn.Module:
    """MobileNet v1 topology, alpha 0.25, for 1x28x28 inputs."""
    check_small_options("mobilenet_v1_small", width_mult=width_mult, dropout=dropout, num_classes=num_classes)
    return _mobilenet_v1(
        in_channels=1, num_classes=num_classes, width=0.25 * width_mult, small=True, dropout=dropout
    )


@register_model(
    name="mobilenet_v2",
    family="MobileNet",
    form="reference",
    title="MobileNet v2",
    paper=_V2_PAPER,
    year=2018,
    input_size=(224, 224),
    in_channels=3,
    num_classes=1000,
    description=_V2_IDEA
    + "torchvision's implementation (alpha 1.0, 224x224): 3x3/2 conv 32, 17 inverted "
    "residual blocks, 1x1 conv 1280, global average pool, dropout 0.2, FC 1000: 3,504,872 "
    "parameters.",
    reference_params=3_504_872,
    weights="MobileNet_V2_Weights.IMAGENET1K_V1",
)
def mobilenet_v2(*, num_classes: int = 1000, weights: str | None = None) -> nn.Module:
    """torchvision's mobilenet_v2; ``weights`` names a torchvision enum member."""
    return torchvision.models.mobilenet_v2(weights=weights, num_classes=num_classes)


@register_model(
    name="mobilenet_v2_small",
    family="MobileNet",
    form="small",
    title="MobileNet v2 (Fashion-MNIST)",
    paper=_V2_PAPER,
    year=2018,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description=_V2_IDEA
    + "Small form: torchvision's MobileNetV2 with the same 17 inverted residual blocks "
    "at alpha 0.5 (times width_mult; torchvision rounds widths to multiples of 8) for "
    "1x28x28 input; the first conv has stride 1, so the blocks run on 28, 14, 7, 4 and 2 "
    "pixel grids. BatchNorm is always on; dropout acts before the FC (paper: 0.2).",
    normalization="fashion_mnist",
    small_of="mobilenet_v2",
)
def mobilenet_v2_small(
    *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.2
) -> nn.Module:
    """MobileNet v2 topology, alpha 0.5, for 1x28x28 inputs."""
    check_small_options("mobilenet_v2_small", width_mult=width_mult, dropout=dropout, num_classes=num_classes)
    model = torchvision.models.MobileNetV2(
        num_classes=num_classes, width_mult=0.5 * width_mult, dropout=dropout
    )
    stem = model.features[0]
    out_channels = stem[0].out_channels
    model.features[0] = Conv2dNormActivation(
        1, out_channels, stride=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6
    )
    nn.init.kaiming_normal_(model.features[0][0].weight, mode="fan_out")
    return model
