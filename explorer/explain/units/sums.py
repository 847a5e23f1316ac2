"""Units that are weighted sums: convolutions (strided, padded, dilated, grouped, depthwise,
1x1 pointwise; LeNet-5's C1, C3 with its connection table, C5), fully connected layers
(F6 too) and LeNet-5's Euclidean RBF output (no Qt)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from explorer.explain.units.base import (
    Explained,
    Step,
    Term,
    array_dict,
    batch_norm_step,
    f64,
    fmt,
    frozen,
    num,
    pair,
    scaled_tanh_step,
    strongest,
)


@dataclasses.dataclass(frozen=True, eq=False)
class ConvDetail:
    """One convolution unit: the input window of each channel it reads, times the kernel.

    Attributes:
        in_channels: the input channels the unit reads (its group's; C3: the connected maps).
        rows, cols: input coordinates of the kernel's taps; outside 0..H-1 / 0..W-1 they
            fall in the zero padding.
        patches: (channels, kh, kw) the input under the kernel, 0 in the padding.
        in_padding: (kh, kw) True where a tap falls in the padding.
        kernel: (channels, kh, kw) this output channel's kernel slice.
        products: ``patches * kernel``.
        channel_sums: (channels,) each input channel's sum of products.
        top: the strongest input channels, strongest first: (channel, contribution).
        rest, rest_count: the other channels' contributions summed, and how many.
        total: all products summed; bias: the channel's bias (0 without one);
        pre_activation: ``total + bias``, the convolution's own output.
        kernel_size, stride, pad, dilation, groups, group: the layer's hyperparameters and
            the group this output channel belongs to.
        variants: those of strided, padded, dilated, grouped, depthwise, pointwise that apply.
        connections: C3's connected S2 maps (the paper's table) for this map, else None.
        before: a step on the input first (C5's adaptive pooling), or None.
        after: steps after the sum (LeNet-5's batch norm and scaled tanh).
    """

    in_channels: tuple[int, ...]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    patches: np.ndarray
    in_padding: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    channel_sums: np.ndarray
    top: tuple[tuple[int, float], ...]
    rest: float
    rest_count: int
    total: float
    bias: float
    pre_activation: float
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    group: int
    variants: tuple[str, ...]
    connections: tuple[int, ...] | None = None
    before: str | None = None
    after: tuple[Step, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return array_dict(self)


@dataclasses.dataclass(frozen=True, eq=False)
class LinearDetail:
    """One fully connected unit: every input times its weight, plus the bias.

    Attributes:
        inputs, weights, products: (in_features,) each.
        top: the strongest contributions, strongest first: (input index, x, w, x * w).
        rest, rest_count: the other products summed, and how many.
        total: all products summed; bias; pre_activation: ``total + bias``.
        after: steps after the sum (F6's scaled tanh).
    """

    inputs: np.ndarray
    weights: np.ndarray
    products: np.ndarray
    top: tuple[tuple[int, float, float, float], ...]
    rest: float
    rest_count: int
    total: float
    bias: float
    pre_activation: float
    after: tuple[Step, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return array_dict(self)


@dataclasses.dataclass(frozen=True, eq=False)
class RBFDetail:
    """One Euclidean RBF output unit: minus the squared distance to the class's bitmap.

    Attributes:
        inputs: (84,) F6's outputs; centre: (84,) the class's fixed bitmap (+1/-1),
            ``bitmap_shape`` (rows, columns) when drawn as the paper's 7x12 picture.
        squares: (84,) ``(x_j - w_j)^2``.
        top: the largest squared differences, largest first: (j, x_j, w_j, square).
        rest, rest_count: the other squares summed, and how many.
        distance: the sum of all squares; the unit is ``-distance``.
    """

    inputs: np.ndarray
    centre: np.ndarray
    squares: np.ndarray
    top: tuple[tuple[int, float, float, float], ...]
    rest: float
    rest_count: int
    distance: float
    bitmap_shape: tuple[int, int] = (12, 7)

    def as_dict(self) -> dict[str, Any]:
        return array_dict(self)


def pair_or_none(value: Any) -> tuple[int | None, int | None]:
    """An output size as (h, w), None where it keeps the input's."""
    if isinstance(value, (tuple, list)):
        return (value[0], value[-1])
    return (value, value)


def _padding_of(module: torch.nn.Module, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    padding = module.padding
    if padding == "valid":
        return (0, 0)
    if padding == "same":  # torch puts the odd pixel on the far side
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))  # type: ignore[return-value]
    return pair(padding)


def conv_window(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, unit: tuple[int, ...], *,
                stride: tuple[int, int], pad: tuple[int, int], dilation: tuple[int, int], groups: int,
                top: int, connections: Sequence[int] | None = None) -> ConvDetail:
    """The arithmetic of unit (channel, y, x) of ``conv2d(x, weight, bias, ...)``.

    ``connections``: the input channels actually wired to this output channel (C3); the
    kernel is the dense one, zero elsewhere.
    """
    channel, y, x0 = unit
    out_channels, per_group, kh, kw = weight.shape
    group = channel // (out_channels // groups)
    first = group * per_group
    chans = list(connections) if connections is not None else list(range(first, first + per_group))
    rows = [y * stride[0] - pad[0] + i * dilation[0] for i in range(kh)]
    cols = [x0 * stride[1] - pad[1] + j * dilation[1] for j in range(kw)]
    height, width = x.shape[-2:]
    in_r = [i for i, r in enumerate(rows) if 0 <= r < height]
    in_c = [j for j, c in enumerate(cols) if 0 <= c < width]
    patches = torch.zeros(len(chans), kh, kw, dtype=torch.float64)
    if in_r and in_c:
        image = x[0]
        if connections is None:
            image = image[first:first + per_group]
        else:
            image = image.index_select(0, torch.tensor(chans, device=x.device))
        window = image[:, rows[in_r[0]]:rows[in_r[-1]] + 1:dilation[0], cols[in_c[0]]:cols[in_c[-1]] + 1:dilation[1]]
        patches[:, in_r[0]:in_r[-1] + 1, in_c[0]:in_c[-1] + 1] = f64(window)
    in_padding = torch.ones(kh, kw, dtype=torch.bool)
    if in_r and in_c:
        in_padding[in_r[0]:in_r[-1] + 1, in_c[0]:in_c[-1] + 1] = False
    kernel = f64(weight[channel, [c - first for c in chans]])
    products = patches * kernel
    sums = products.sum(dim=(1, 2))
    total = num(sums.sum())
    b = num(bias[channel]) if bias is not None else 0.0
    order, rest, rest_count = strongest(sums, top)
    variants = [name for name, applies in (
        ("strided", stride != (1, 1)), ("padded", pad != (0, 0)), ("dilated", dilation != (1, 1)),
        ("grouped", groups > 1 and per_group > 1), ("depthwise", groups > 1 and per_group == 1),
        ("pointwise", (kh, kw) == (1, 1))) if applies]
    return ConvDetail(
        in_channels=tuple(chans), rows=tuple(rows), cols=tuple(cols), patches=frozen(patches),
        in_padding=frozen(in_padding), kernel=frozen(kernel), products=frozen(products),
        channel_sums=frozen(sums), top=tuple((chans[i], num(sums[i])) for i in order), rest=rest,
        rest_count=rest_count, total=total, bias=b, pre_activation=total + b, kernel_size=(kh, kw),
        stride=stride, pad=pad, dilation=dilation, groups=groups, group=group, variants=tuple(variants),
        connections=tuple(connections) if connections is not None else None)


def _conv_terms(d: ConvDetail, top: int, has_bias: bool) -> tuple[Term, ...]:
    kh, kw = d.kernel_size
    terms: list[Term] = []
    if len(d.in_channels) == 1:  # one channel (depthwise, a grayscale first layer): each product
        products = torch.from_numpy(np.array(d.products[0]))
        order, rest, rest_count = strongest(products, top)
        for flat in order:
            i, j = divmod(flat, kw)
            where = f"({d.rows[i]}, {d.cols[j]})" + (" padding" if d.in_padding[i, j] else "")
            terms.append(Term(f"x{where} * w[{i}, {j}]", float(d.products[0, i, j]),
                              (float(d.patches[0, i, j]), float(d.kernel[0, i, j]))))
        if rest_count:
            terms.append(Term(f"the other {rest_count} products", rest))
    else:
        for channel, value in d.top:
            k = d.in_channels.index(channel)
            if (kh, kw) == (1, 1):
                terms.append(Term(f"x[channel {channel}] * w[{channel}]", value,
                                  (float(d.patches[k, 0, 0]), float(d.kernel[k, 0, 0]))))
            else:
                terms.append(Term(f"input channel {channel}: {kh}x{kw} products", value))
        if d.rest_count:
            terms.append(Term(f"the other {d.rest_count} channels", d.rest))
    if has_bias:
        terms.append(Term("bias", d.bias))
    return tuple(terms)


def _conv_formula(d: ConvDetail, products: int, has_bias: bool) -> str:
    kh, kw = d.kernel_size
    if "depthwise" in d.variants:
        head = f"depthwise: input channel {d.in_channels[0]} alone through a {kh}x{kw} kernel"
    elif "pointwise" in d.variants:
        head = (f"1x1 pointwise: a weighted sum of {len(d.in_channels)} input channels at one "
                f"pixel ({d.rows[0]}, {d.cols[0]})")
    elif d.connections is not None:
        head = f"connected maps {', '.join(str(c) for c in d.connections)} (the connection table) x {kh}x{kw} kernel"
    else:
        head = f"{len(d.in_channels)} input channel{'s' if len(d.in_channels) != 1 else ''} x {kh}x{kw} kernel"
    if not has_bias:
        return f"{head}: sum of {products} products = {fmt(d.pre_activation)} (no bias)"
    return f"{head}: sum of {products} products {fmt(d.total)} + bias {fmt(d.bias)} = {fmt(d.pre_activation)}"


def _explained_conv(d: ConvDetail, *, top: int, has_bias: bool, kind: str, notes: list[str]) -> Explained:
    value = d.after[-1].output if d.after else d.pre_activation
    formula = _conv_formula(d, int(d.products.size), has_bias)
    for step in d.after:
        formula += f"; {step.label}: {step.formula}"
    padded = int(d.in_padding.sum())
    if padded:
        notes.append(f"{padded} of the {d.in_padding.size} kernel taps fall in the zero padding")
    if not has_bias:
        notes.append("no bias: a convolution followed by batch norm leaves it out (the norm's beta "
                     "does its work)")
    scale = float(np.abs(d.products).sum()) + abs(d.bias)
    return Explained(kind, formula, _conv_terms(d, top, has_bias), value, max(scale, abs(value)), d, tuple(notes))


def explain_conv(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """``nn.Conv2d``: any stride, padding, dilation and groups."""
    m = call.module
    x = call.args[0]
    kernel, dilation = pair(m.kernel_size), pair(m.dilation)
    pad = _padding_of(m, kernel, dilation)
    notes: list[str] = []
    if m.padding_mode != "zeros":
        x = F.pad(x, m._reversed_padding_repeated_twice, mode=m.padding_mode)
        notes.append(f"padding mode {m.padding_mode}: the border holds copied values, not zeros")
        pad = (0, 0)
    d = conv_window(x, m.weight, m.bias, unit, stride=pair(m.stride), pad=pad, dilation=dilation,
                    groups=m.groups, top=top)
    return _explained_conv(d, top=top, has_bias=m.bias is not None, kind="conv", notes=notes)


def explain_lenet_conv(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """LeNet-5's C1 and C5: [adaptive pooling], convolution, [batch norm], scaled tanh."""
    m = call.module
    x = call.args[0]
    before = None
    notes: list[str] = []
    if m.pool is not None:
        size = tuple(x.shape[-2:])
        target = tuple(s if s is not None else d for s, d in zip(pair_or_none(m.pool.output_size), size))
        if target == size:  # the pooling is the identity (the 28x28 form's C5): nothing to run
            before = f"adaptive average pooling {size[0]}x{size[1]} -> {size[0]}x{size[1]} (the identity at this size)"
        else:
            with torch.no_grad():
                x = m.pool(x)
            before = f"adaptive average pooling {size[0]}x{size[1]} -> {x.shape[-2]}x{x.shape[-1]}"
        notes.append(f"first {before}")
    d = conv_window(x, m.weight, m.bias, unit, stride=pair(m.stride), pad=pair(m.padding),
                    dilation=pair(m.dilation), groups=m.groups, top=top)
    d = dataclasses.replace(d, before=before, after=_lenet_after(m, unit[0], d.pre_activation))
    return _explained_conv(d, top=top, has_bias=True, kind="lenet_conv", notes=notes)


def explain_connection_table(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """LeNet-5's C3: only the S2 maps the paper's table wires to this map, then [BN], tanh."""
    m = call.module
    with torch.no_grad():
        weight = m.dense_weight()
    d = conv_window(call.args[0], weight, m.bias, unit, stride=(1, 1), pad=(0, 0), dilation=(1, 1),
                    groups=1, top=top, connections=m.table[unit[0]])
    d = dataclasses.replace(d, after=_lenet_after(m, unit[0], d.pre_activation))
    unconnected = m.in_channels - len(m.table[unit[0]])
    notes = [(f"map {unit[0]} reads {len(m.table[unit[0]])} of the {m.in_channels} S2 maps; the "
              f"other {unconnected} are not connected to it (LeNet-5's Table I)")] if unconnected else []
    return _explained_conv(d, top=top, has_bias=True, kind="connection_table_conv", notes=notes)


def _lenet_after(module: torch.nn.Module, channel: int, value: float) -> tuple[Step, ...]:
    steps = []
    if getattr(module, "bn", None) is not None:
        steps.append(batch_norm_step(module.bn, channel, value))
        value = steps[-1].output
    steps.append(scaled_tanh_step(value))
    return tuple(steps)


def _linear(x_row: torch.Tensor, weight_row: torch.Tensor, bias: float, top: int) -> LinearDetail:
    inputs, weights = f64(x_row), f64(weight_row)
    products = inputs * weights
    order, rest, rest_count = strongest(products, top)
    total = num(products.sum())
    return LinearDetail(
        inputs=frozen(inputs), weights=frozen(weights), products=frozen(products),
        top=tuple((i, num(inputs[i]), num(weights[i]), num(products[i])) for i in order),
        rest=rest, rest_count=rest_count, total=total, bias=bias, pre_activation=total + bias)


def _linear_explained(d: LinearDetail, kind: str, has_bias: bool, notes: tuple[str, ...] = ()) -> Explained:
    terms = [Term(f"x[{i}] * w[{i}]", p, (x, w)) for i, x, w, p in d.top]
    if d.rest_count:
        terms.append(Term(f"the other {d.rest_count} products", d.rest))
    if has_bias:
        terms.append(Term("bias", d.bias))
    formula = (f"{d.inputs.size} inputs x weights: sum {fmt(d.total)} + bias {fmt(d.bias)} "
               f"= {fmt(d.pre_activation)}")
    for step in d.after:
        formula += f"; {step.label}: {step.formula}"
    value = d.after[-1].output if d.after else d.pre_activation
    scale = float(np.abs(d.products).sum()) + abs(d.bias)
    return Explained(kind, formula, tuple(terms), value, max(scale, abs(value)), d, notes)


def explain_linear(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """``nn.Linear``: the strongest weight x input products, the rest summed, the bias."""
    m = call.module
    x = call.args[0]
    row = x[(0,) + tuple(unit[:-1])]
    bias = num(m.bias[unit[-1]]) if m.bias is not None else 0.0
    return _linear_explained(_linear(row, m.weight[unit[-1]], bias, top), "linear", m.bias is not None)


def explain_lenet_linear(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """LeNet-5's F6: flatten, dropout (the identity at evaluation), 84 units, scaled tanh."""
    m = call.module
    row = torch.flatten(call.args[0], 1)[0]
    d = _linear(row, m.weight[unit[0]], num(m.bias[unit[0]]), top)
    d = dataclasses.replace(d, after=(scaled_tanh_step(d.pre_activation),))
    notes = ("the input is flattened to one vector first",)
    if m.dropout is not None:
        notes += ("dropout on the input is the identity at evaluation",)
    return _linear_explained(d, "lenet_linear", True, notes)


def explain_rbf(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """LeNet-5's output: y_i = sum_j (x_j - w_ij)^2 with fixed bitmap centres; -y is the logit."""
    m = call.module
    inputs, centre = f64(call.args[0][0]), f64(m.centres[unit[0]])
    squares = (inputs - centre) ** 2
    order, rest, rest_count = strongest(squares, top)
    distance = num(squares.sum())
    d = RBFDetail(inputs=frozen(inputs), centre=frozen(centre), squares=frozen(squares),
                  top=tuple((j, num(inputs[j]), num(centre[j]), num(squares[j])) for j in order),
                  rest=rest, rest_count=rest_count, distance=distance)
    terms = [Term(f"-(x[{j}] - w[{j}])^2", -s, (x, w)) for j, x, w, s in d.top]
    if rest_count:
        terms.append(Term(f"minus the other {rest_count} squares", -rest))
    formula = (f"minus the squared distance from F6's {inputs.numel()} outputs to class {unit[0]}'s "
               f"7x12 bitmap: -{fmt(distance)} = {fmt(-distance)}")
    notes = (("the centres are fixed +1/-1 bitmaps of the digits, not learned: the largest output "
              "is the nearest bitmap"),)
    return Explained("rbf", formula, tuple(terms), -distance, distance, d, notes)
