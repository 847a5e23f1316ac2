"""The window sliding over the input while the output map fills in (issue 21's animation,
as CNN Explainer does it), precomputed from one node call's tensors (no Qt).

:func:`animation_for` turns a convolution or pooling unit's arithmetic and the node's
call (:meth:`~explorer.activations.stepper.Stepper.call_at`) into an :class:`Animation`:
one frame per output position of the unit's channel, in raster order, each with the input
window it reads (padding included), the layer's own output there and, for a convolution,
the shown input channel's sum of products; a 1x1 convolution steps through the pixels with
the channels' values at that pixel, their weights and the weighted sum. Everything a frame
shows is computed here once, so drawing a frame only reads arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from explorer.explain.units.explain import UnitArithmetic, explain_call
from explorer.explain.units.pools import PoolDetail
from explorer.explain.units.sums import ConvDetail

#: Channels listed per pixel by a 1x1 convolution's frame (the strongest products).
POINTWISE_ROWS = 6
#: Pool operations whose windows are the same size everywhere (adaptive ones vary).
SLIDING_POOLS = ("max", "average", "subsampling")


class NotAnimated(ValueError):
    """The unit's layer has no sliding window to animate (a linear layer, an activation,
    adaptive pooling, LeNet-5's C5 after its pooling); the message says why, in one line."""


@dataclasses.dataclass(frozen=True)
class Frame:
    """One step: output cell ``out`` made from the input window ``rows`` x ``cols``.

    Attributes:
        index: the frame's number (raster order of the output).
        out: (y, x) in the output map.
        rows, cols: (first, last) input row and column the window covers; below 0 or past
            the map's edge they are in the padding.
        value: the layer's own output at (channel, y, x).
        partial: a convolution's shown input channel's sum of products there, else None.
        pixel: a 1x1 convolution's input pixel (y, x), else None.
    """

    index: int
    out: tuple[int, int]
    rows: tuple[int, int]
    cols: tuple[int, int]
    value: float
    partial: float | None = None
    pixel: tuple[int, int] | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Animation:
    """Every frame of one unit's channel, precomputed.

    Attributes:
        mode: ``conv``, ``depthwise``, ``pointwise`` or ``pool``; op: the pool's operation
            (``max``...) or ``conv``.
        node: the node's title; channel: the output channel animated.
        in_channel: the input channel drawn; in_channels: all the channel reads.
        input_map: (H, W) the real input channel; output_map: (OH, OW) the layer's output.
        kernel_size, stride, pad, dilation: the window's geometry, (rows, cols) each.
        kernel: (kh, kw) the drawn channel's kernel slice (convolutions), else None.
        partials: (OH, OW) the drawn channel's sums of products (convolutions), else None.
        bias: the output channel's bias (0 without one or for a pool).
        weights: (C,) a 1x1 convolution's weights over ``in_channels``, else None.
        top_channels, top_values, top_products: (POINTWISE_ROWS, OH, OW) a 1x1
            convolution's strongest channels at each pixel (positions in ``in_channels``),
            their values and products; pointwise_sums: (OH, OW) all products summed.
    """

    mode: str
    op: str
    node: str
    channel: int
    in_channel: int
    in_channels: tuple[int, ...]
    input_map: np.ndarray
    output_map: np.ndarray
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int]
    kernel: np.ndarray | None = None
    partials: np.ndarray | None = None
    bias: float = 0.0
    weights: np.ndarray | None = None
    top_channels: np.ndarray | None = None
    top_values: np.ndarray | None = None
    top_products: np.ndarray | None = None
    pointwise_sums: np.ndarray | None = None

    @property
    def count(self) -> int:
        return int(self.output_map.size)

    def frame(self, index: int) -> Frame:
        """Frame ``index`` (0 .. count - 1): output cells in raster order."""
        width = self.output_map.shape[1]
        y, x = divmod(int(index), width)
        top = y * self.stride[0] - self.pad[0]
        left = x * self.stride[1] - self.pad[1]
        rows = (top, top + (self.kernel_size[0] - 1) * self.dilation[0])
        cols = (left, left + (self.kernel_size[1] - 1) * self.dilation[1])
        partial = float(self.partials[y, x]) if self.partials is not None else None
        pixel = (top, left) if self.mode == "pointwise" else None
        return Frame(int(index), (y, x), rows, cols, float(self.output_map[y, x]), partial, pixel)

    def filled(self, index: int) -> np.ndarray:
        """(OH, OW) True at the output cells made by frames 0 .. ``index`` (none: -1)."""
        mask = np.zeros(self.output_map.size, dtype=bool)
        mask[:max(0, int(index) + 1)] = True
        return mask.reshape(self.output_map.shape)


def _map(value: object, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.dim() != 4:
        raise NotAnimated(f"the layer's {what} is not a (1, C, H, W) map")
    return value.detach().to("cpu", torch.float64)[0]


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    array = np.array(tensor.numpy(), dtype=np.float64)
    array.setflags(write=False)
    return array


def _pool_geometry(call, records: Sequence, channel: int, window: tuple[int, int],
                   out_shape: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(stride, pad, dilation) of a pool, read off the explained windows of two units."""
    first = explain_call(call, records, channel, (0, 0)).detail
    corner = (min(1, out_shape[0] - 1), min(1, out_shape[1] - 1))
    second = explain_call(call, records, channel, corner).detail if corner != (0, 0) else first
    stride = tuple((s[0] - f[0]) // c if c else 1 for s, f, c in
                   ((second.rows, first.rows, corner[0]), (second.cols, first.cols, corner[1])))
    dilation = tuple(line[1] - line[0] if k > 1 else 1 for line, k in ((first.rows, window[0]), (first.cols, window[1])))
    pad = (-first.rows[0], -first.cols[0])
    return stride, pad, dilation  # type: ignore[return-value]


def animation_for(result: UnitArithmetic, call, records: Sequence = ()) -> Animation:
    """The animation of ``result``'s channel from the node's ``call`` (its input and
    output tensors); ``records``: the stepper's nodes (a pool's geometry is read through
    the explainers).

    Raises:
        NotAnimated: the unit is not a convolution's or a sliding pool's.
    """
    detail = result.detail
    if len(result.unit) != 3 or not isinstance(detail, (ConvDetail, PoolDetail)):
        raise NotAnimated(f"a {result.layer_kind} unit has no sliding window: only convolutions and pools animate")
    if isinstance(detail, ConvDetail) and detail.before is not None:
        raise NotAnimated(f"this convolution reads its input after {detail.before}: not animated")
    if isinstance(detail, PoolDetail) and detail.op not in SLIDING_POOLS:
        raise NotAnimated(f"{detail.op} pooling's windows vary in size: not animated")
    source = _map(call.args[0] if call.args else None, "input")
    output = _map(call.output, "output")
    channel = result.unit[0]
    out_map = _numpy(output[channel])
    if isinstance(detail, PoolDetail):
        window = (len(detail.rows), len(detail.cols))
        stride, pad, dilation = _pool_geometry(call, records, channel, window, tuple(out_map.shape))
        return Animation("pool", detail.op, result.node, channel, detail.channel, (detail.channel,),
                         _numpy(source[detail.channel]), out_map, window, stride, pad, dilation)
    chans = detail.in_channels
    strongest = detail.top[0][0] if detail.top else chans[0]
    k = chans.index(strongest) if strongest in chans else 0
    common = {"op": "conv", "node": result.node, "channel": channel, "in_channel": chans[k], "in_channels": chans,
              "input_map": _numpy(source[chans[k]]), "output_map": out_map, "kernel_size": detail.kernel_size,
              "stride": detail.stride, "pad": detail.pad, "dilation": detail.dilation, "bias": detail.bias}
    if "pointwise" in detail.variants and "depthwise" not in detail.variants:
        weights = np.asarray(detail.kernel[:, 0, 0], dtype=np.float64)
        stack = source[list(chans)]
        if detail.pad != (0, 0):
            stack = F.pad(stack, (detail.pad[1], detail.pad[1], detail.pad[0], detail.pad[0]))
        height, width = out_map.shape
        picked = stack[:, :height * detail.stride[0]:detail.stride[0], :width * detail.stride[1]:detail.stride[1]]
        values = picked.numpy()
        products = values * weights[:, None, None]
        rows = min(POINTWISE_ROWS, len(chans))
        order = np.argsort(-np.abs(products), axis=0, kind="stable")[:rows]
        return Animation("pointwise", **common, weights=weights, kernel=np.asarray(detail.kernel[k]),
                         top_channels=order, top_values=np.take_along_axis(values, order, 0),
                         top_products=np.take_along_axis(products, order, 0),
                         pointwise_sums=products.sum(axis=0))
    kernel = torch.from_numpy(np.array(detail.kernel[k]))
    partials = F.conv2d(source[chans[k]][None, None], kernel[None, None], stride=detail.stride,
                        padding=detail.pad, dilation=detail.dilation)[0, 0]
    mode = "depthwise" if "depthwise" in detail.variants else "conv"
    return Animation(mode, **common, kernel=np.asarray(detail.kernel[k]), partials=_numpy(partials))
