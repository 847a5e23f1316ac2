"""Inception v2 (BN-Inception, Ioffe & Szegedy 2015) and Inception v3 (torchvision)."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
import torchvision.models.inception as inception_tv
from torch import nn

from explorer.errors import ModelError
from explorer.models._api import register_model
from explorer.models.architectures._layers import check_small_options, conv_bn_relu, scaled

_V2_PAPER = (
    "Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
    "Covariate Shift (Ioffe, Szegedy)"
)
_V2_IDEA = (
    "Inception v2 (BN-Inception) is GoogLeNet rebuilt around batch normalisation: every "
    "conv is followed by BN, which normalises each channel over the mini-batch and lets "
    "the network train with much higher learning rates and reach GoogLeNet's accuracy in "
    "a fraction of the steps. The 5x5 branch becomes two stacked 3x3 convs (same field, "
    "fewer weights), the pool branch alternates average and max pooling, and two "
    "modules (3c, 4e) halve the grid themselves with stride-2 convs beside a max-pool "
    "pass-through instead of separate pooling layers. "
)
_V3_PAPER = "Rethinking the Inception Architecture for Computer Vision (Szegedy et al.)"

# (name, #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, pool proj, stride)
# from the BN paper's Figure 5; proj 0 = pass the pooled input through unchanged. Figure 5
# gives 4c and 4d an "avg + 128" pool projection but an output of 576, which needs 96
# (TF-Slim's inception_v2.py): the rows' 128 is built, and the graph says so on them.
BN_INCEPTION_TABLE: tuple[tuple[str, int, int, int, int, int, str, int, int], ...] = (
    ("3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
)


class BNInception(nn.Module):
    """One BN-Inception module: 1x1, 1x1-3x3, 1x1-3x3-3x3 and pool branches, concatenated."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        dbl3x3red: int,
        dbl3x3: int,
        pool: str,
        pool_proj: int,
        stride: int,
    ) -> None:
        super().__init__()
        self.branch1 = conv_bn_relu(in_channels, ch1x1, 1) if ch1x1 else None
        self.branch2 = nn.Sequential(
            conv_bn_relu(in_channels, ch3x3red, 1),
            conv_bn_relu(ch3x3red, ch3x3, 3, stride=stride, padding=1),
        )
        self.branch3 = nn.Sequential(
            conv_bn_relu(in_channels, dbl3x3red, 1),
            conv_bn_relu(dbl3x3red, dbl3x3, 3, padding=1),
            conv_bn_relu(dbl3x3, dbl3x3, 3, stride=stride, padding=1),
        )
        pool_layer: nn.Module
        if pool == "avg":
            pool_layer = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        else:
            pool_layer = nn.MaxPool2d(3, stride=stride, padding=1)
        if pool_proj:
            self.branch4 = nn.Sequential(pool_layer, conv_bn_relu(in_channels, pool_proj, 1))
        else:
            self.branch4 = nn.Sequential(pool_layer)
        self.out_channels = ch1x1 + ch3x3 + dbl3x3 + (pool_proj or in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.branch1(x)] if self.branch1 is not None else []
        outs += [self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(outs, 1)


def separable_stem(in_channels: int, out_channels: int, kernel_size: int, *, stride: int,
                   padding: int, multiplier: int = 8) -> nn.Sequential:
    """The BN paper's first conv (its Appendix): depthwise-separable, depth multiplier 8.

    A depthwise kxk conv gives each input channel ``multiplier`` maps, a 1x1 conv mixes
    them, then BN and ReLU: for 3 -> 64 channels at 7x7, 7*7*3*8 + 24*64 = 2,712 weights
    instead of a full conv's 9,408.
    """
    mid = in_channels * multiplier
    return nn.Sequential(OrderedDict(
        depthwise=nn.Conv2d(in_channels, mid, kernel_size, stride=stride, padding=padding,
                            groups=in_channels, bias=False),
        pointwise=nn.Conv2d(mid, out_channels, 1, bias=False),
        bn=nn.BatchNorm2d(out_channels),
        relu=nn.ReLU(),
    ))  # fmt: skip


class InceptionV2(nn.Module):
    """BN-Inception; ``small`` uses a 3x3/1 first conv for 28x28 inputs."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        width: float = 1.0,
        small: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        c64, c192 = scaled(64, width), scaled(192, width)
        if small:
            self.conv1 = separable_stem(in_channels, c64, 3, stride=1, padding=1)
        else:
            self.conv1 = separable_stem(in_channels, c64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv_bn_relu(c64, c64, 1)
        self.conv3 = conv_bn_relu(c64, c192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        channels = c192
        for name, *widths, pool, proj, stride in BN_INCEPTION_TABLE:
            module = BNInception(
                channels, *(scaled(c, width) if c else 0 for c in widths),
                pool, scaled(proj, width) if proj else 0, stride,
            )  # fmt: skip
            setattr(self, f"inception{name}", module)
            channels = module.out_channels
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        for name, *_ in BN_INCEPTION_TABLE:
            x = getattr(self, f"inception{name}")(x)
        return self.fc(self.dropout(self.flatten(self.avgpool(x))))


@register_model(
    name="inception_v2",
    family="Inception",
    form="reference",
    title="Inception v2 (BN-Inception)",
    paper=_V2_PAPER,
    year=2015,
    input_size=(224, 224),
    in_channels=3,
    num_classes=1000,
    description=_V2_IDEA
    + "Built from the paper's Figure 5 table (modules 3a-5b, 224x224 input, global "
    "average pooling, FC 1000; convs without bias since BN has its own shift) with the "
    "first 7x7 conv depthwise-separable at depth multiplier 8, as the paper's Appendix "
    "says (2,712 weights instead of 9,408): 11,278,528 parameters. The paper (Sec. 4.2.1) "
    "states 13.6 M for its network; the often-quoted 11.2 M is not from the paper. "
    "Figure 5 contradicts itself for 4c and 4d: their 'avg + 128' pool projections sum "
    "to 608 channels while its output column says 576 (TF-Slim uses 96). Built here: "
    "128, as the rows say, so 4c and 4d give 608 channels and 4e 1,056. No auxiliary heads.",
)
def inception_v2(*, num_classes: int = 1000) -> nn.Module:
    """BN-Inception as tabulated in the batch-normalisation paper."""
    return InceptionV2(in_channels=3, num_classes=num_classes)


@register_model(
    name="inception_v2_small",
    family="Inception",
    form="small",
    title="Inception v2 (Fashion-MNIST)",
    paper=_V2_PAPER,
    year=2015,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description=_V2_IDEA
    + "Small form: the same stem (its first conv depthwise-separable with depth "
    "multiplier 8, as in the paper's Appendix), ten modules with double-3x3 branches and "
    "stride-2 modules, at a quarter of every width (times width_mult) for 1x28x28 input; "
    "the first conv is 3x3/1 so modules 3x run on 7x7, 4x on 4x4 and 5x on 2x2 grids. "
    "4c and 4d keep Figure 5's 128-wide pool projection (scaled), not the 96 of TF-Slim. "
    "BatchNorm is always on; dropout acts before the FC.",
    normalization="fashion_mnist",
    small_of="inception_v2",
)
def inception_v2_small(
    *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.0
) -> nn.Module:
    """BN-Inception topology at a quarter width for 1x28x28 inputs."""
    check_small_options("inception_v2_small", width_mult=width_mult, dropout=dropout, num_classes=num_classes)
    return InceptionV2(
        in_channels=1, num_classes=num_classes, width=0.25 * width_mult, small=True, dropout=dropout
    )


@register_model(
    name="inception_v3",
    family="Inception",
    form="reference",
    title="Inception v3",
    paper=_V3_PAPER,
    year=2015,
    input_size=(299, 299),
    in_channels=3,
    num_classes=1000,
    description="Inception v3 factorises convolutions further: each 5x5 becomes two 3x3, "
    "and on the 17x17 grid an nxn conv becomes a 1xn followed by an nx1 (n = 7), which "
    "keeps the field and cuts the cost; the grid shrinks inside the modules (parallel "
    "stride-2 conv and pool branches) rather than through a bottlenecking pool; the "
    "widest modules expand their outputs on the 8x8 grid. Trained with label smoothing "
    "and RMSProp, with one BN auxiliary classifier acting as a regulariser; 299x299 "
    "input. torchvision's implementation with the aux head: 27,161,264 parameters "
    "(23,834,568 without). Training mode returns (logits, aux), eval mode the logits.",
    reference_params=27_161_264,
    weights="Inception_V3_Weights.IMAGENET1K_V1",
    aux_heads=1,
)
def inception_v3(*, num_classes: int = 1000, weights: str | None = None) -> nn.Module:
    """torchvision's inception_v3 with its aux head; ``weights`` names an enum member."""
    # init_weights=False skips a slow truncated-normal init; torchvision sets
    # transform_input itself when it loads weights.
    return torchvision.models.inception_v3(
        weights=weights, num_classes=num_classes, aux_logits=True, init_weights=False
    )


class InceptionAux(inception_tv.InceptionAux):
    """torchvision's aux head, pooling adaptively to 5x5 (the 17x17 grid is 6x6 here)."""

    def __init__(
        self, in_channels: int, num_classes: int, *, conv_block: Callable[..., nn.Module], fc_in: int
    ) -> None:
        super().__init__(in_channels, num_classes, conv_block=conv_block)
        self.pool = nn.AdaptiveAvgPool2d((5, 5))
        self.fc = nn.Linear(fc_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(self.pool(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


@register_model(
    name="inception_v3_small",
    family="Inception",
    form="small",
    title="Inception v3 (Fashion-MNIST)",
    paper=_V3_PAPER,
    year=2015,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description="Inception v3 factorises convolutions: 5x5 into two 3x3, nxn into 1xn "
    "then nx1 on the 17x17 grid, and shrinks the grid inside modules with parallel "
    "stride-2 conv and pool branches. Small form: torchvision's own Inception modules "
    "(three A, one B, four C with 1x7/7x1 factorisations, one D, two E) and its aux head "
    "at an eighth of every width (width_mult 0.5, 1 or 2 keeps the branch widths whole) "
    "for 1x28x28 input: the stem convs have stride 1 and padding and its second max pool "
    "has stride 1, so the A modules run on 13x13, C on 6x6 and E on 2x2 grids; the aux "
    "head pools adaptively to 5x5. Training mode returns (logits, aux), eval mode the logits.",
    normalization="fashion_mnist",
    small_of="inception_v3",
    aux_heads=1,
)
def inception_v3_small(
    *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.5, aux_logits: bool = True
) -> nn.Module:
    """Inception v3 topology at an eighth of the width for 1x28x28 inputs."""
    check_small_options("inception_v3_small", width_mult=width_mult, dropout=dropout, num_classes=num_classes)
    if width_mult not in (0.5, 1.0, 2.0):
        raise ModelError(f"inception_v3_small: width_mult must be 0.5, 1 or 2, got {width_mult}")
    factor = width_mult / 8

    def width(channels: int) -> int:
        # Every v3 width is a multiple of 16, so these stay whole and the concatenations add up.
        return int(channels * factor)

    def conv_block(in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
        # max(1, ...): Inception3 first builds a 3-channel stem conv, replaced below.
        return inception_tv.BasicConv2d(max(1, width(in_channels)), width(out_channels), **kwargs)

    blocks = [
        conv_block,
        *(
            functools.partial(block, conv_block=conv_block)
            for block in (
                inception_tv.InceptionA,
                inception_tv.InceptionB,
                inception_tv.InceptionC,
                inception_tv.InceptionD,
                inception_tv.InceptionE,
            )
        ),
        functools.partial(InceptionAux, conv_block=conv_block, fc_in=width(768)),
    ]
    model = inception_tv.Inception3(
        num_classes=num_classes,
        aux_logits=aux_logits,
        inception_blocks=blocks,
        init_weights=False,
        dropout=dropout,
    )
    basic = inception_tv.BasicConv2d
    # A 28x28 stem: stride 1 and 'same' padding, and a stride-1 second pool, so 28 -> 13.
    model.Conv2d_1a_3x3 = basic(1, width(32), kernel_size=3, padding=1)
    model.Conv2d_2a_3x3 = basic(width(32), width(32), kernel_size=3, padding=1)
    model.Conv2d_4a_3x3 = basic(width(80), width(192), kernel_size=3, padding=1)
    model.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
    model.fc = nn.Linear(width(2048), num_classes)
    return model
