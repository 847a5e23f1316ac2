"""GoogLeNet / Inception v1 (Szegedy et al. 2014): paper-faithful, torchvision's, small."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from explorer.models._api import register_model
from explorer.models.architectures._layers import (
    AuxOutputs,
    check_small_options,
    conv_bn_relu,
    he_init_,
    local_response_norm,
    scaled,
)

_PAPER = "Going Deeper with Convolutions (Szegedy et al.)"
_IDEA = (
    "GoogLeNet introduced the Inception module: four parallel branches on the same input, "
    "concatenated on channels: a 1x1 conv, a 1x1 reduction then 3x3, a 1x1 reduction then "
    "5x5, and a 3x3 max pool then a 1x1 'pool projection'. The 1x1 reductions (NiN's "
    "idea) keep the wide branches cheap, so the 22-layer network has about 12 times fewer "
    "parameters than AlexNet. Global average pooling replaces the big FC layers; two "
    "auxiliary classifiers on 4a and 4d (5x5/3 average pool, 1x1 conv 128, FC 1024, "
    "dropout 0.7, FC) add their losses with weight 0.3 during training to strengthen the "
    "gradient reaching early layers and are dropped at inference. ILSVRC-2014 "
    "classification winner (6.67% top-5 error). "
)

# (name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), the paper's Table 1;
# "pool" marks the 3x3/2 max pools between the stages.
INCEPTION_TABLE: tuple[tuple[str, int, int, int, int, int, int] | str, ...] = (
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64),
    "pool",
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    "pool",
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
)
AUX_AFTER = {"4a": "aux1", "4d": "aux2"}


class Inception(nn.Module):
    """The four-branch Inception module; output is the channel concatenation."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        *,
        batch_norm: bool,
    ) -> None:
        super().__init__()
        bn = batch_norm
        self.branch1 = conv_bn_relu(in_channels, ch1x1, 1, batch_norm=bn)
        self.branch2 = nn.Sequential(
            conv_bn_relu(in_channels, ch3x3red, 1, batch_norm=bn),
            conv_bn_relu(ch3x3red, ch3x3, 3, padding=1, batch_norm=bn),
        )
        # A true 5x5 (torchvision's googlenet uses 3x3 here, pytorch/vision#906).
        self.branch3 = nn.Sequential(
            conv_bn_relu(in_channels, ch5x5red, 1, batch_norm=bn),
            conv_bn_relu(ch5x5red, ch5x5, 5, padding=2, batch_norm=bn),
        )
        # Pool first, then the 1x1 projection, as in the paper's Figure 2(b).
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            conv_bn_relu(in_channels, pool_proj, 1, batch_norm=bn),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: average pool, 1x1 conv, FC, ReLU, dropout, FC."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        conv_channels: int,
        hidden: int,
        pool: nn.Module,
        pooled_size: int,
        batch_norm: bool,
        dropout: float = 0.7,
    ) -> None:
        super().__init__()
        self.pool = pool
        self.conv = conv_bn_relu(in_channels, conv_channels, 1, batch_norm=batch_norm)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(conv_channels * pooled_size * pooled_size, hidden)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.conv(self.pool(x)))
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet with both auxiliary heads; returns AuxOutputs in training, logits in eval.

    Args:
        width: multiplier on every channel count of the paper's table.
        small: 1-channel 28x28 stem (3x3/1 first conv) and adaptive aux pooling.
        batch_norm: BN after every conv instead of biases, and instead of the stem's LRN.
        aux_logits: build the two auxiliary classifiers.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        width: float = 1.0,
        small: bool = False,
        batch_norm: bool = False,
        dropout: float = 0.4,
        aux_logits: bool = True,
    ) -> None:
        super().__init__()
        bn = batch_norm
        c64, c192 = scaled(64, width), scaled(192, width)
        if small:
            self.conv1 = conv_bn_relu(in_channels, c64, 3, padding=1, batch_norm=bn)
        else:
            self.conv1 = conv_bn_relu(in_channels, c64, 7, stride=2, padding=3, batch_norm=bn)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.norm1 = nn.Identity() if bn else local_response_norm()
        self.conv2 = conv_bn_relu(c64, c64, 1, batch_norm=bn)
        self.conv3 = conv_bn_relu(c64, c192, 3, padding=1, batch_norm=bn)
        self.norm2 = nn.Identity() if bn else local_response_norm()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        channels = c192
        pools = 2
        self.aux_logits = aux_logits
        for entry in INCEPTION_TABLE:
            if entry == "pool":
                pools += 1
                setattr(self, f"maxpool{pools}", nn.MaxPool2d(3, stride=2, ceil_mode=True))
                continue
            name, *widths = entry
            module = Inception(channels, *(scaled(c, width) for c in widths), batch_norm=bn)
            setattr(self, f"inception{name}", module)
            channels = module.out_channels
            if aux_logits and name in AUX_AFTER:
                if small:
                    pool, pooled = nn.AdaptiveAvgPool2d((2, 2)), 2
                else:
                    pool, pooled = nn.AvgPool2d(5, stride=3), 4
                aux = InceptionAux(
                    channels,
                    num_classes,
                    conv_channels=scaled(128, width),
                    hidden=scaled(1024, width),
                    pool=pool,
                    pooled_size=pooled,
                    batch_norm=bn,
                )
                setattr(self, AUX_AFTER[name], aux)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:
        x = self.maxpool1(self.conv1(x))
        x = self.norm1(x)
        x = self.norm2(self.conv3(self.conv2(x)))
        x = self.maxpool2(x)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        # Aux heads run only in training (they are dropped at inference), so an eval-mode
        # fx trace and the feature-map stepper see the plain main path.
        aux1 = self.aux1(x) if self.aux_logits and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux_logits and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(self.flatten(self.avgpool(x))))
        if aux1 is not None and aux2 is not None:
            return AuxOutputs(logits, aux1, aux2)
        return logits


@register_model(
    name="googlenet",
    family="GoogLeNet",
    form="reference",
    title="GoogLeNet (Inception v1)",
    paper=_PAPER,
    year=2014,
    input_size=(224, 224),
    in_channels=3,
    num_classes=1000,
    description=_IDEA
    + "Paper-faithful: every conv has a bias and a ReLU, the 5x5 branch is a true 5x5, no "
    "BatchNorm, LRN in the stem, both aux heads built: 13,378,280 parameters with them, "
    "6,998,552 without. Training mode returns (logits, aux1, aux2), eval mode the logits.",
    reference_params=13_378_280,
    aux_heads=2,
)
def googlenet(*, num_classes: int = 1000) -> nn.Module:
    """GoogLeNet as in the paper's Table 1 with both auxiliary classifiers."""
    return GoogLeNet(in_channels=3, num_classes=num_classes)


@register_model(
    name="googlenet_tv",
    family="GoogLeNet",
    form="reference",
    title="GoogLeNet (torchvision variant)",
    paper=_PAPER,
    year=2014,
    input_size=(224, 224),
    in_channels=3,
    num_classes=1000,
    description="torchvision's googlenet, the one with ImageNet weights. It is NOT the "
    "paper's network: it adds BatchNorm after every conv and uses a 3x3 conv in the '5x5' "
    "branch (a known bug kept for its pretrained weights, pytorch/vision#906). Built with "
    "both aux heads (13,004,888 parameters; 6,624,904 without). Training mode returns "
    "torchvision's (logits, aux_logits2, aux_logits1), eval mode the logits.",
    reference_params=13_004_888,
    weights="GoogLeNet_Weights.IMAGENET1K_V1",
    variant_of="googlenet",
    aux_heads=2,
)
def googlenet_tv(*, num_classes: int = 1000, weights: str | None = None) -> nn.Module:
    """torchvision's googlenet with aux heads; ``weights`` names a torchvision enum member."""
    # init_weights=False: skips torchvision's slow truncated-normal init and its warning;
    # with weights it is ignored, and torchvision also sets transform_input for them.
    return torchvision.models.googlenet(
        weights=weights, num_classes=num_classes, aux_logits=True, init_weights=False
    )


@register_model(
    name="googlenet_small",
    family="GoogLeNet",
    form="small",
    title="GoogLeNet (Fashion-MNIST)",
    paper=_PAPER,
    year=2014,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description=_IDEA
    + "Same topology as the paper (stem, nine Inception modules with true 5x5 branches, "
    "three max pools, both aux heads) at a quarter of every width (times width_mult) for "
    "1x28x28 input: the first conv is 3x3/1, so modules 3x run on 7x7, 4x on 3x3 and 5x "
    "on 1x1 grids (the max pools floor 7 to 3 and 3 to 1); the aux heads pool adaptively "
    "to 2x2. batch_norm puts BN after every conv in place of biases and the stem's LRN. "
    "Training mode returns (logits, aux1, aux2), eval mode the logits.",
    normalization="fashion_mnist",
    small_of="googlenet",
    aux_heads=2,
)
def googlenet_small(
    *,
    num_classes: int = 10,
    width_mult: float = 1.0,
    dropout: float = 0.4,
    batch_norm: bool = False,
    aux_logits: bool = True,
) -> nn.Module:
    """GoogLeNet topology at a quarter width for 1x28x28 inputs."""
    check_small_options("googlenet_small", width_mult=width_mult, dropout=dropout, num_classes=num_classes)
    model = GoogLeNet(
        in_channels=1,
        num_classes=num_classes,
        width=0.25 * width_mult,
        small=True,
        batch_norm=batch_norm,
        dropout=dropout,
        aux_logits=aux_logits,
    )
    # Plain ReLU stack ~22 layers deep without batch norm: with Xavier it reached 0.76 test
    # accuracy after 5 epochs of Adam on the subset (_layers.he_init_).
    return he_init_(model)

