"""LeNet: the paper-faithful LeNet-5 (1998) and the d2l textbook LeNet.

LeNet-5 is built as the paper describes it, including the parts later re-implementations
drop: trainable subsampling layers, the C3 connection table and a Euclidean RBF output
whose centres are fixed 7x12 bitmaps of the digits.

Over 400 lines because it holds the paper's data (the C3 connection table, the ten digit
bitmaps) beside LeNet-5's five layer classes and both LeNets' builders.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import ModelError
from explorer.models._api import register_model
from explorer.models.architectures._layers import check_small_options, scaled, xavier_init_

_LENET5_PAPER = "Gradient-Based Learning Applied to Document Recognition (LeCun, Bottou, Bengio, Haffner)"
_LENET5_DESCRIPTION = (
    "LeNet-5 made the convolutional network practical: shared 5x5 kernels (C1, C3, C5) "
    "detect the same feature anywhere in the image, subsampling layers (S2, S4) halve the "
    "resolution so the features tolerate small shifts, and the whole stack is trained end "
    "to end with backpropagation. This is the paper's network: 32x32 input (28x28 digits "
    "padded), a scaled tanh squashing 1.7159*tanh(2x/3) after every layer up to F6, "
    "trainable subsampling (the sum of each 2x2 window times one coefficient plus one bias "
    "per map), C3 maps wired to subsets of the S2 maps by the paper's connection table "
    "(1,516 parameters instead of 2,416) and an output of 10 Euclidean RBF units whose "
    "centres are fixed 7x12 bitmaps of the digits. The model returns minus the RBF "
    "penalty, so the largest output is the nearest centre and cross-entropy on it is the "
    "paper's MAP loss. 60,000 trainable parameters; used by banks to read cheques."
)
_LENET5_SMALL_DESCRIPTION = (
    "LeNet-5 as in the paper, already a 1-channel, 10-class digit network, with the "
    "paper's own preprocessing built in: C1 pads the 28x28 image by 2 pixels to 32x32 "
    "(zero padding 2, the same thing). The connection table and the 84-unit F6 that matches the 7x12 RBF bitmaps "
    "fix the widths, so this form has no width_mult; batch_norm adds BatchNorm inside C1, "
    "C3 and C5 (before their tanh), dropout acts on F6's input. At most 10 classes (one "
    "bitmap per digit). C5 pools adaptively to 5x5 first, which accepts other input sizes. "
    "Each of the seven layers is one module, so the graph shows C1, S2, C3, S4, C5, F6 "
    "and the RBF output."
)
_LENET_PAPER = "Dive into Deep Learning, chapter 7.6 (Zhang, Lipton, Li, Smola); after LeCun et al. 1998"
_LENET_DESCRIPTION = (
    "The textbook LeNet from Dive into Deep Learning, the form most courses teach: two "
    "5x5 convolutions (6 and 16 kernels, the first padded by 2 so a 28x28 image keeps its "
    "size) each followed by a sigmoid and 2x2 average pooling, then fully connected "
    "layers of 120, 84 and 10 units. It simplifies LeNet-5: C3 sees all six maps (2,416 "
    "parameters instead of 1,516), pooling has no parameters and a Linear(84, 10) replaces "
    "the RBF output. 61,706 parameters."
)
_LENET_SMALL_DESCRIPTION = (
    "The textbook LeNet for Fashion-MNIST (28x28, 10 classes) with options: width_mult "
    "scales the 6/16 kernels and 120/84 units, batch_norm adds BatchNorm after every conv "
    "and hidden fully connected layer (d2l's BN LeNet), dropout acts after the hidden "
    "fully connected layers. Adaptive average pooling to 5x5 before the classifier "
    "accepts other input sizes."
)

# The paper's Table I: which S2 maps each of the 16 C3 maps reads.
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

# Stylised 7x12 digit bitmaps: the fixed RBF centres ("#" = +1, "." = -1), as in the
# paper's Figure 3 idea; drawn for this project since the paper's pixels are not published.
DIGIT_BITMAPS: tuple[tuple[str, ...], ...] = (
    ("..###..", ".#...#.", "#.....#", "#.....#", "#.....#", "#.....#",
     "#.....#", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    ("...#...", "..##...", ".#.#...", "...#...", "...#...", "...#...",
     "...#...", "...#...", "...#...", "...#...", ".#####.", "......."),
    ("..###..", ".#...#.", "#.....#", "......#", ".....#.", "....#..",
     "...#...", "..#....", ".#.....", "#......", "#######", "......."),
    (".#####.", "#.....#", "......#", "......#", ".....#.", "..###..",
     ".....#.", "......#", "......#", "#.....#", ".#####.", "......."),
    (".....#.", "....##.", "...#.#.", "..#..#.", ".#...#.", "#....#.",
     "#######", ".....#.", ".....#.", ".....#.", ".....#.", "......."),
    ("#######", "#......", "#......", "#......", "######.", "......#",
     "......#", "......#", "......#", "#.....#", ".#####.", "......."),
    ("..####.", ".#.....", "#......", "#......", "######.", "#.....#",
     "#.....#", "#.....#", "#.....#", "#.....#", ".#####.", "......."),
    ("#######", "......#", ".....#.", ".....#.", "....#..", "....#..",
     "...#...", "...#...", "..#....", "..#....", "..#....", "......."),
    (".#####.", "#.....#", "#.....#", "#.....#", ".#####.", "#.....#",
     "#.....#", "#.....#", "#.....#", "#.....#", ".#####.", "......."),
    (".#####.", "#.....#", "#.....#", "#.....#", "#.....#", ".######",
     "......#", "......#", "......#", ".....#.", ".####..", "......."),
)  # fmt: skip


class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = 1.7159 * tanh(2a/3) (the paper's Appendix A)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


# LeNet-5's layers are whole modules that the graph and the stepper show as one node each
# (``fx_leaf``, see explorer.graph.tracer): the paper names seven layers, and tracing into
# them showed parameter nodes, a bias add and the C3 kernel's index_copy instead.


class LeNetConv2d(nn.Conv2d):
    """C1 or C5: a convolution, an optional BatchNorm, then the scaled tanh.

    Args:
        pool_to: adaptive average pooling to this size before the convolution (C5 of the
            28x28 form: identity at 28x28, lets a user's resize still reach a 1x1 output).
    """

    fx_leaf = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, padding: int = 0,
                 batch_norm: bool = False, pool_to: int | None = None, display_name: str = "") -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=padding)
        self.display_name = display_name
        self.pool = nn.AdaptiveAvgPool2d(pool_to) if pool_to else None
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else None
        self.act = ScaledTanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = self.pool(x)
        x = super().forward(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


class Subsampling(nn.Module):
    """S2 or S4: the sum of each 2x2 window, times a coefficient, plus a bias per map,
    then the scaled tanh (12 parameters for S2's 6 maps)."""

    fx_leaf = True
    kernel_size = 2
    stride = 2
    padding = 0

    def __init__(self, channels: int, *, display_name: str = "") -> None:
        super().__init__()
        self.display_name = display_name
        self.in_channels = self.out_channels = channels
        self.weight = nn.Parameter(torch.full((channels,), 0.25))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.act = ScaledTanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window_sum = F.avg_pool2d(x, 2) * 4.0
        return self.act(window_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1))


class ConnectionTableConv2d(nn.Module):
    """C3: a convolution in which output map i reads only the input maps in ``table[i]``,
    then an optional BatchNorm and the scaled tanh.

    Only the connected kernels are parameters (for C3: 60 kernels of 5x5 plus 16 biases =
    1,516); forward scatters them into a dense kernel whose unconnected entries are zero,
    which runs 10-25x faster on a CPU than grouped convolutions over the table. The work
    the layer stands for is the table's: :meth:`flop_count` gives it (150,000 multiply-adds
    for C3), and the FLOP counts use it instead of the dense kernel's 240,000.
    """

    fx_leaf = True

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int, *,
                 batch_norm: bool = False, display_name: str = "") -> None:
        super().__init__()
        self.display_name = display_name
        self.in_channels = in_channels
        self.out_channels = len(table)
        self.kernel_size = kernel_size
        self.stride, self.padding = 1, 0
        self.table = tuple(tuple(s) for s in table)
        flat = [out * in_channels + src for out, sources in enumerate(table) for src in sources]
        # Not saved with the weights: it follows from the table.
        self.register_buffer("connection_index", torch.tensor(flat, dtype=torch.long), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(flat), kernel_size * kernel_size))
        self.bias = nn.Parameter(torch.zeros(self.out_channels))
        bound = 1.0 / math.sqrt(3 * kernel_size * kernel_size)
        nn.init.uniform_(self.weight, -bound, bound)
        self.bn = nn.BatchNorm2d(self.out_channels) if batch_norm else None
        self.act = ScaledTanh()

    @property
    def connections(self) -> int:
        """Connected (output map, input map) pairs: 60 for C3."""
        return sum(len(s) for s in self.table)

    def connection_grid(self) -> list[list[bool]]:
        """The paper's Table I: rows are the input (S2) maps, columns the output (C3) maps."""
        return [[src in sources for sources in self.table] for src in range(self.in_channels)]

    def graph_hparams(self) -> dict[str, object]:
        """What the graph's details show beyond the usual hyperparameters."""
        return {"connections": [[int(c) for c in row] for row in self.connection_grid()]}

    def flop_count(self, output: torch.Tensor) -> int:
        """FLOPs of the table's multiply-adds (2 per multiply-add, as torch counts them)."""
        n, _, h, w = output.shape
        return 2 * n * self.connections * self.kernel_size * self.kernel_size * h * w

    def dense_weight(self) -> torch.Tensor:
        """The (out, in, k, k) kernel with zeros where the table has no connection."""
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels * self.in_channels, k * k)
        dense = dense.index_copy(0, self.connection_index, self.weight)
        return dense.view(self.out_channels, self.in_channels, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.dense_weight(), self.bias)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


class LeNetLinear(nn.Linear):
    """F6: flatten, optional dropout, 84 fully connected units, the scaled tanh."""

    fx_leaf = True

    def __init__(self, in_features: int, out_features: int, *, dropout: float = 0.0,
                 display_name: str = "") -> None:
        super().__init__(in_features, out_features)
        self.display_name = display_name
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.act = ScaledTanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.act(super().forward(x))


class EuclideanRBF(nn.Module):
    """Output units y_i = sum_j (x_j - w_ij)^2 with fixed centres; returns -y as logits."""

    fx_leaf = True

    def __init__(self, centres: torch.Tensor, *, display_name: str = "") -> None:
        super().__init__()
        self.display_name = display_name
        self.in_features, self.out_features = centres.shape[1], centres.shape[0]
        # A buffer, not a parameter: the paper fixes the centres by hand.
        self.register_buffer("centres", centres)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diff = x.unsqueeze(1) - self.centres.unsqueeze(0)
        return -(diff * diff).sum(dim=2)


def digit_centres(num_classes: int = 10) -> torch.Tensor:
    """The (num_classes, 84) RBF centres: +1/-1 pixels of the 7x12 digit bitmaps."""
    rows = [
        [1.0 if pixel == "#" else -1.0 for line in DIGIT_BITMAPS[c] for pixel in line]
        for c in range(num_classes)
    ]
    return torch.tensor(rows)


def _lecun_uniform_(model: nn.Module) -> None:
    # The paper's initialisation: weights uniform in +-2.4/F_i, F_i the fan-in of the unit.
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            nn.init.uniform_(module.weight, -2.4 / fan_in, 2.4 / fan_in)
            nn.init.zeros_(module.bias)
        elif isinstance(module, ConnectionTableConv2d):
            # One bound per connected kernel: its output map's fan-in is (#sources * k * k).
            kernel_area = module.weight.shape[1]
            bounds = [2.4 / (len(s) * kernel_area) for s in module.table for _ in s]
            with torch.no_grad():
                module.weight.uniform_(-1.0, 1.0)
                module.weight.mul_(module.weight.new_tensor(bounds).unsqueeze(1))


def _lenet5(
    *, num_classes: int, pad_input: bool, batch_norm: bool = False, dropout: float = 0.0
) -> nn.Sequential:
    if not 1 <= num_classes <= 10:
        raise ModelError(f"LeNet-5 has one RBF bitmap per digit: num_classes must be 1-10, got {num_classes}")
    bn = batch_norm
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    # The 28x28 form pads to the paper's 32x32 inside C1: zero padding 2 is the same thing.
    layers["c1"] = LeNetConv2d(1, 6, 5, padding=2 if pad_input else 0, batch_norm=bn, display_name="C1")
    layers["s2"] = Subsampling(6, display_name="S2")
    layers["c3"] = ConnectionTableConv2d(6, C3_CONNECTIONS, 5, batch_norm=bn, display_name="C3")
    layers["s4"] = Subsampling(16, display_name="S4")
    layers["c5"] = LeNetConv2d(16, 120, 5, batch_norm=bn, pool_to=5 if pad_input else None,
                               display_name="C5")
    layers["f6"] = LeNetLinear(120, 84, dropout=dropout, display_name="F6")
    layers["rbf"] = EuclideanRBF(digit_centres(num_classes), display_name="RBF output")
    model = nn.Sequential(layers)
    _lecun_uniform_(model)
    return model


@register_model(
    name="lenet5",
    family="LeNet",
    form="reference",
    title="LeNet-5",
    paper=_LENET5_PAPER,
    year=1998,
    input_size=(32, 32),
    in_channels=1,
    num_classes=10,
    description=_LENET5_DESCRIPTION,
    reference_params=60_000,
    normalization="fashion_mnist",
)
def lenet5(*, num_classes: int = 10) -> nn.Module:
    """LeNet-5 exactly as in the 1998 paper (32x32 input, RBF output)."""
    return _lenet5(num_classes=num_classes, pad_input=False)


@register_model(
    name="lenet5_small",
    family="LeNet",
    form="small",
    title="LeNet-5 (28x28)",
    paper=_LENET5_PAPER,
    year=1998,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description=_LENET5_SMALL_DESCRIPTION,
    normalization="fashion_mnist",
    small_of="lenet5",
)
def lenet5_small(*, num_classes: int = 10, dropout: float = 0.0, batch_norm: bool = False) -> nn.Module:
    """LeNet-5 with the 28 -> 32 padding inside the model."""
    check_small_options("lenet5_small", dropout=dropout, num_classes=num_classes)
    return _lenet5(num_classes=num_classes, pad_input=True, batch_norm=batch_norm, dropout=dropout)


def _lenet(
    *,
    num_classes: int,
    width_mult: float = 1.0,
    dropout: float = 0.0,
    batch_norm: bool = False,
    adaptive_pool: bool = False,
) -> nn.Sequential:
    c1, c2 = scaled(6, width_mult), scaled(16, width_mult)
    f1, f2 = scaled(120, width_mult), scaled(84, width_mult)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv1"] = nn.Conv2d(1, c1, 5, padding=2)
    if batch_norm:
        layers["bn1"] = nn.BatchNorm2d(c1)
    layers["sigmoid1"] = nn.Sigmoid()
    layers["pool1"] = nn.AvgPool2d(2, stride=2)
    layers["conv2"] = nn.Conv2d(c1, c2, 5)
    if batch_norm:
        layers["bn2"] = nn.BatchNorm2d(c2)
    layers["sigmoid2"] = nn.Sigmoid()
    layers["pool2"] = nn.AvgPool2d(2, stride=2)
    if adaptive_pool:
        # Identity at 28x28; lets a user's resize still reach the 16*5*5 classifier.
        layers["adaptive_pool"] = nn.AdaptiveAvgPool2d((5, 5))
    layers["flatten"] = nn.Flatten()
    for i, (n_in, n_out) in enumerate(((c2 * 25, f1), (f1, f2)), start=1):
        layers[f"fc{i}"] = nn.Linear(n_in, n_out)
        if batch_norm:
            layers[f"fc{i}_bn"] = nn.BatchNorm1d(n_out)
        layers[f"fc{i}_sigmoid"] = nn.Sigmoid()
        if dropout > 0:
            layers[f"fc{i}_dropout"] = nn.Dropout(dropout)
    layers["fc3"] = nn.Linear(f2, num_classes)
    return nn.Sequential(layers)


@register_model(
    name="lenet",
    family="LeNet",
    form="reference",
    title="LeNet (textbook)",
    paper=_LENET_PAPER,
    year=1998,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description=_LENET_DESCRIPTION,
    reference_params=61_706,
    normalization="fashion_mnist",
    variant_of="lenet5",
)
def lenet(*, num_classes: int = 10) -> nn.Module:
    """d2l's LeNet: sigmoid, average pooling, full C3, Linear output."""
    return _lenet(num_classes=num_classes)


@register_model(
    name="lenet_small",
    family="LeNet",
    form="small",
    title="LeNet (Fashion-MNIST)",
    paper=_LENET_PAPER,
    year=1998,
    input_size=(28, 28),
    in_channels=1,
    num_classes=10,
    description=_LENET_SMALL_DESCRIPTION,
    normalization="fashion_mnist",
    small_of="lenet",
)
def lenet_small(
    *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.0, batch_norm: bool = False
) -> nn.Module:
    """The textbook LeNet with width, dropout and BatchNorm options."""
    check_small_options("lenet_small", width_mult=width_mult, dropout=dropout, num_classes=num_classes)
    model = _lenet(
        num_classes=num_classes,
        width_mult=width_mult,
        dropout=dropout,
        batch_norm=batch_norm,
        adaptive_pool=True,
    )
    return xavier_init_(model)
