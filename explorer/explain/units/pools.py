"""Units that read a window of one channel or a few neighbouring channels: max, average and
adaptive (global) average pooling, LeNet-5's trainable subsampling and local response
normalisation (no Qt)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from explorer.explain.units.base import (
    Explained,
    Step,
    Term,
    array_dict,
    bound,
    f64,
    fmt,
    frozen,
    num,
    pair,
    scaled_tanh_step,
)


@dataclasses.dataclass(frozen=True, eq=False)
class PoolDetail:
    """One pooling unit: the window of its channel it reads.

    Attributes:
        op: ``max``, ``average``, ``adaptive average`` (``global average`` when the
            output is 1x1) or ``subsampling`` (LeNet-5's S2/S4).
        channel: the input channel (pooling never mixes channels).
        rows, cols: input coordinates of the window (outside the map: padding).
        window: (rows, cols) the input values; NaN where the window is in the padding
            (max pooling pads with -inf, average pooling with zeros).
        in_padding: (rows, cols) True in the padding.
        winner: max pooling: (row, col) in the window of the largest value, else None.
        divisor: average pooling: what the sum is divided by (PyTorch's count, padding
            included or not, or a divisor override); None for max.
        total: the window's sum (average pooling, subsampling); None for max.
        coefficient, bias: subsampling's trainable coefficient and bias; None otherwise.
        after: steps after the pooling (subsampling's scaled tanh).
    """

    op: str
    channel: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    window: np.ndarray
    in_padding: np.ndarray
    winner: tuple[int, int] | None = None
    divisor: float | None = None
    total: float | None = None
    coefficient: float | None = None
    bias: float | None = None
    after: tuple[Step, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return array_dict(self)


@dataclasses.dataclass(frozen=True, eq=False)
class LRNDetail:
    """One local response normalisation unit (AlexNet, GoogLeNet):
    b = a / (k + alpha / n * sum of a^2 over n neighbouring channels)^beta.

    Attributes:
        channels: the neighbouring channels summed (clipped to the map's channels).
        values: their activities a at this pixel; squares: a^2.
        a: this channel's activity; sum_squares: the neighbourhood's sum of squares.
        size, alpha, beta, k: the layer's constants (n, alpha, beta, k).
        denominator: ``(k + alpha / n * sum_squares) ** beta``.
    """

    channels: tuple[int, ...]
    values: np.ndarray
    squares: np.ndarray
    a: float
    sum_squares: float
    size: int
    alpha: float
    beta: float
    k: float
    denominator: float

    def as_dict(self) -> dict[str, Any]:
        return array_dict(self)


def _window(x: torch.Tensor, channel: int, rows: list[int], cols: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(values with NaN in the padding, padding mask) of ``x[0, channel]`` at rows x cols."""
    height, width = x.shape[-2:]
    window = torch.full((len(rows), len(cols)), math.nan, dtype=torch.float64)
    in_r = [i for i, r in enumerate(rows) if 0 <= r < height]
    in_c = [j for j, c in enumerate(cols) if 0 <= c < width]
    mask = torch.ones(len(rows), len(cols), dtype=torch.bool)
    if in_r and in_c:
        step_r = rows[1] - rows[0] if len(rows) > 1 else 1
        step_c = cols[1] - cols[0] if len(cols) > 1 else 1
        values = x[0, channel, rows[in_r[0]]:rows[in_r[-1]] + 1:step_r, cols[in_c[0]]:cols[in_c[-1]] + 1:step_c]
        window[in_r[0]:in_r[-1] + 1, in_c[0]:in_c[-1] + 1] = f64(values)
        mask[in_r[0]:in_r[-1] + 1, in_c[0]:in_c[-1] + 1] = False
    return window, mask


def _pool_options(call: Any, function_names: tuple[str, ...], defaults: dict[str, Any]) -> dict[str, Any]:
    if call.module is not None:
        return {name: getattr(call.module, name, defaults.get(name)) for name in function_names[1:]}
    return bound(function_names, call.args, call.kwargs, defaults)


_MAX_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVG_ARGS = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")


def explain_max_pool(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """``nn.MaxPool2d`` / ``F.max_pool2d``: the window and its winner."""
    o = _pool_options(call, _MAX_ARGS, {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False})
    kernel = pair(o["kernel_size"])
    stride = pair(o["stride"] if o["stride"] not in (None, (), []) else o["kernel_size"])
    pad, dilation = pair(o["padding"]), pair(o["dilation"])
    channel, y, x0 = unit
    rows = [y * stride[0] - pad[0] + i * dilation[0] for i in range(kernel[0])]
    cols = [x0 * stride[1] - pad[1] + j * dilation[1] for j in range(kernel[1])]
    window, mask = _window(call.args[0], channel, rows, cols)
    flat = torch.where(mask, torch.tensor(-math.inf, dtype=torch.float64), window).reshape(-1)
    best = int(torch.argmax(flat))
    winner = divmod(best, kernel[1])
    value = num(flat[best])
    d = PoolDetail("max", channel, tuple(rows), tuple(cols), frozen(window), frozen(mask), winner=winner)
    inside = int((~mask).sum())
    formula = (f"max of the {kernel[0]}x{kernel[1]} window of channel {channel} at rows "
               f"{rows[0]}..{rows[-1]}, cols {cols[0]}..{cols[-1]} = {fmt(value)} "
               f"(at ({rows[winner[0]]}, {cols[winner[1]]}))")
    terms = (Term(f"winner x({rows[winner[0]]}, {cols[winner[1]]})", value),)
    notes = ((f"{mask.numel() - inside} of the window's {mask.numel()} places are padding "
              "(-inf: they never win)"),) if inside < mask.numel() else ()
    return Explained("max_pool", formula, terms, value, abs(value), d, notes)


def _average(call: Any, unit: tuple[int, ...], rows: list[int], cols: list[int], divisor: float,
             op: str, kind: str, note: tuple[str, ...] = ()) -> Explained:
    channel = unit[0]
    window, mask = _window(call.args[0], channel, rows, cols)
    total = num(torch.nan_to_num(window, nan=0.0).sum())
    value = total / divisor
    d = PoolDetail(op, channel, tuple(rows), tuple(cols), frozen(window), frozen(mask), divisor=divisor,
                   total=total)
    inside = int((~mask).sum())
    formula = (f"{op} of channel {channel}, rows {rows[0]}..{rows[-1]}, cols {cols[0]}..{cols[-1]}: "
               f"sum of {inside} values {fmt(total)} / {fmt(divisor)} = {fmt(value)}")
    terms = (Term(f"sum of the {inside} values", total), Term(f"divided by {fmt(divisor)}", value))
    scale = float(np.nansum(np.abs(window.numpy()))) / divisor
    return Explained(kind, formula, terms, value, max(scale, abs(value)), d, note)


def explain_avg_pool(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """``nn.AvgPool2d`` / ``F.avg_pool2d``, with PyTorch's divisor rules."""
    o = _pool_options(call, _AVG_ARGS, {"stride": None, "padding": 0, "ceil_mode": False,
                                        "count_include_pad": True, "divisor_override": None})
    kernel = pair(o["kernel_size"])
    stride = pair(o["stride"] if o["stride"] not in (None, (), []) else o["kernel_size"])
    pad = pair(o["padding"])
    _, y, x0 = unit
    height, width = call.args[0].shape[-2:]
    # PyTorch's count: the window clipped to the padded input, then (unless the padding
    # counts) to the input itself.
    top_r, left = y * stride[0] - pad[0], x0 * stride[1] - pad[1]
    bottom, right = min(top_r + kernel[0], height + pad[0]), min(left + kernel[1], width + pad[1])
    with_pad = (bottom - top_r) * (right - left)
    inside = (min(bottom, height) - max(top_r, 0)) * (min(right, width) - max(left, 0))
    if o["divisor_override"]:
        divisor, why = float(o["divisor_override"]), "a fixed divisor (divisor_override)"
    elif o["count_include_pad"]:
        divisor, why = float(with_pad), "padding places count"
    else:
        divisor, why = float(inside), "padding places do not count (count_include_pad=False)"
    rows = list(range(top_r, top_r + kernel[0]))
    cols = list(range(left, left + kernel[1]))
    note = (f"divided by {fmt(divisor)}: {why}",) if pad != (0, 0) or o["divisor_override"] else ()
    return _average(call, unit, rows, cols, divisor, "average", "avg_pool", note)


def explain_adaptive_avg_pool(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """``nn.AdaptiveAvgPool2d`` / ``F.adaptive_avg_pool2d``: the mean of the unit's bin
    (the whole map when the output is 1x1: global average pooling)."""
    _, y, x0 = unit
    height, width = call.args[0].shape[-2:]
    out_h, out_w = call.output.shape[-2:]
    r0, r1 = (y * height) // out_h, -(-((y + 1) * height) // out_h)
    c0, c1 = (x0 * width) // out_w, -(-((x0 + 1) * width) // out_w)
    rows, cols = list(range(r0, r1)), list(range(c0, c1))
    if (out_h, out_w) == (1, 1):
        op, note = "global average", (f"global average pooling: the mean of the whole {height}x{width} map",)
    else:
        op, note = "adaptive average", ((f"bins of a {height}x{width} map for a {out_h}x{out_w} output: "
                                         f"rows floor(i*{height}/{out_h}) to ceil((i+1)*{height}/{out_h})"),)
        if (out_h, out_w) == (height, width):
            note = ("the identity: the map already has the output's size",)
    return _average(call, unit, rows, cols, float(len(rows) * len(cols)), op, "adaptive_avg_pool", note)


def explain_subsampling(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """LeNet-5's S2/S4: the 2x2 window's sum times a coefficient plus a bias, scaled tanh."""
    m = call.module
    channel, y, x0 = unit
    size = m.kernel_size
    rows = [y * m.stride + i for i in range(size)]
    cols = [x0 * m.stride + j for j in range(size)]
    window, mask = _window(call.args[0], channel, rows, cols)
    total = num(window.sum())
    coefficient, bias = num(m.weight[channel]), num(m.bias[channel])
    pre = total * coefficient + bias
    after = (scaled_tanh_step(pre),)
    d = PoolDetail("subsampling", channel, tuple(rows), tuple(cols), frozen(window), frozen(mask),
                   total=total, coefficient=coefficient, bias=bias, after=after)
    formula = (f"sum of the {size}x{size} window of map {channel} {fmt(total)} x coefficient "
               f"{fmt(coefficient)} + bias {fmt(bias)} = {fmt(pre)}; scaled tanh: {after[0].formula}")
    terms = (Term("window sum", total), Term("x coefficient", total * coefficient, (total, coefficient)),
             Term("bias", bias))
    scale = float(np.abs(window.numpy()).sum()) * abs(coefficient) + abs(bias)
    notes = ("LeNet-5's subsampling is trainable: one coefficient and one bias per map",)
    return Explained("subsampling", formula, terms, after[0].output, max(scale, abs(pre)), d, notes)


def explain_lrn(call: Any, unit: tuple[int, ...], top: int) -> Explained:
    """``nn.LocalResponseNorm`` as PyTorch computes it: the sum of squares runs over
    channels c - n//2 .. c + (n-1)//2 and is divided by n."""
    m = call.module
    x = call.args[0]
    channel, y, x0 = unit[0], unit[1] if len(unit) > 1 else None, unit[2] if len(unit) > 2 else None
    first, last = max(0, channel - m.size // 2), min(x.shape[1] - 1, channel + (m.size - 1) // 2)
    index = (0, slice(first, last + 1)) + tuple(i for i in (y, x0) if i is not None)
    values = f64(x[index])
    squares = values ** 2
    a = num(values[channel - first])
    sum_squares = num(squares.sum())
    denominator = (m.k + m.alpha / m.size * sum_squares) ** m.beta
    value = a / denominator
    d = LRNDetail(tuple(range(first, last + 1)), frozen(values), frozen(squares), a, sum_squares, m.size,
                  float(m.alpha), float(m.beta), float(m.k), denominator)
    formula = (f"{fmt(a)} / ({m.k:g} + {m.alpha:g}/{m.size} * {fmt(sum_squares)})^{m.beta:g} "
               f"= {fmt(a)} / {fmt(denominator)} = {fmt(value)}")
    terms = tuple(Term(f"channel {c}: a^2", num(s)) for c, s in zip(range(first, last + 1), squares))
    terms += (Term("a (this channel)", a), Term("denominator", denominator))
    notes = ((f"the neighbourhood is channels {first}..{last} (n = {m.size}, clipped at the edges); "
              "strong neighbours damp this unit (lateral inhibition)"),)
    return Explained("lrn", formula, terms, value, abs(value), d, notes)
