"""Feature maps as one mosaic image, their statistics, and learned kernels, in numpy.

All channels of a node are tiled into one 2-D array (the GUI shows it as a single image
item, the CLI writes it as one PNG). Values are scaled to 0..1, either with one range
shared by all channels (compare channels) or per channel (see each channel's pattern);
the gaps between tiles are NaN and drawn as background.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import torch
from torch import nn

from explorer.activations.colormaps import DIVERGING, lookup_table

Scale = Literal["shared", "per_channel"]


def as_channels(value: torch.Tensor | np.ndarray) -> np.ndarray:
    """Bring a node output to (channels, height, width) float32 for display.

    The first sample of a batch is shown. Vectors (a Linear layer's (1, F) output) become
    one near-square channel, padded with NaN; 1-D signals (N, C, L) become C rows of 1xL.
    """
    array = value.detach().to("cpu", torch.float32).numpy() if isinstance(
        value, torch.Tensor) else np.asarray(value, dtype=np.float32)
    if array.ndim >= 4:
        array = array[0]
        array = array.reshape(array.shape[0], array.shape[1], -1) if array.ndim > 3 else array
        return np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim == 3:
        return np.ascontiguousarray(array[0][:, None, :], dtype=np.float32)
    flat = array[0] if array.ndim == 2 else array.reshape(-1)
    flat = flat.reshape(-1)
    n = max(flat.size, 1)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full(rows * cols, np.nan, dtype=np.float32)
    grid[: flat.size] = flat
    return grid.reshape(1, rows, cols)


@dataclasses.dataclass
class Mosaic:
    """Channels tiled on a grid; ``values`` holds the scaled image (NaN in the gaps).

    Attributes:
        values: (height, width) float32 in 0..1, NaN between tiles.
        rows: grid rows.
        cols: grid columns.
        cell_h: tile height in pixels.
        cell_w: tile width in pixels.
        pad: pixels between tiles.
        channels: number of tiles filled.
        lo: value mapped to 0 (shared scale) or None (per channel).
        hi: value mapped to 1 (shared scale) or None (per channel).
    """

    values: np.ndarray
    rows: int
    cols: int
    cell_h: int
    cell_w: int
    pad: int
    channels: int
    lo: float | None
    hi: float | None

    def channel_at(self, x: float, y: float) -> int | None:
        """The channel under image pixel (x, y) (column, row), or None in a gap or outside."""
        if x < 0 or y < 0:
            return None
        col, in_x = divmod(int(x), self.cell_w + self.pad)
        row, in_y = divmod(int(y), self.cell_h + self.pad)
        if in_x >= self.cell_w or in_y >= self.cell_h or col >= self.cols or row >= self.rows:
            return None
        channel = row * self.cols + col
        return channel if channel < self.channels else None

    def channel_origin(self, channel: int) -> tuple[int, int]:
        """Top-left pixel (x, y) of a channel's tile."""
        row, col = divmod(channel, self.cols)
        return col * (self.cell_w + self.pad), row * (self.cell_h + self.pad)


def grid_shape(channels: int, cell_h: int, cell_w: int) -> tuple[int, int]:
    """Rows and columns that make the mosaic roughly square on screen."""
    channels = max(channels, 1)
    cols = max(1, round(math.sqrt(channels * cell_h / max(cell_w, 1))))
    cols = min(cols, channels)
    return math.ceil(channels / cols), cols


def _range(values: np.ndarray, symmetric: bool) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if symmetric:
        m = max(abs(lo), abs(hi))
        lo, hi = -m, m
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def make_mosaic(
    channels: np.ndarray,
    scale: Scale = "shared",
    pad: int = 1,
    symmetric: bool = False,
    columns: int | None = None,
) -> Mosaic:
    """Tile (C, H, W) channels into one scaled image.

    Args:
        channels: output of ``as_channels``.
        scale: ``shared`` maps one min..max range over all channels to 0..1;
            ``per_channel`` stretches each channel on its own.
        pad: gap between tiles in pixels (NaN).
        symmetric: centre the range on zero (for diverging colour maps).
        columns: fix the number of grid columns (default: roughly square).
    """
    c, h, w = channels.shape
    if columns is not None:
        cols = max(1, min(columns, c))
        rows = math.ceil(c / cols)
    else:
        rows, cols = grid_shape(c, h, w)
    data = channels.astype(np.float32, copy=True)
    lo: float | None
    hi: float | None
    if scale == "shared":
        lo, hi = _range(data, symmetric)
        data -= lo
        data *= 1.0 / (hi - lo)
    else:
        lo = hi = None
        with np.errstate(invalid="ignore", all="ignore"):
            if symmetric:
                m = np.nanmax(np.abs(data.reshape(c, -1)), axis=1) if data.size else np.zeros(c)
                m = np.where(np.isfinite(m) & (m > 0), m, 1.0).astype(np.float32)
                data = (data + m[:, None, None]) / (2 * m[:, None, None])
            else:
                flat = data.reshape(c, -1)
                mins = np.nanmin(flat, axis=1) if flat.size else np.zeros(c)
                maxs = np.nanmax(flat, axis=1) if flat.size else np.ones(c)
                spans = np.where(np.isfinite(maxs - mins) & (maxs > mins), maxs - mins, 1.0)
                mins = np.where(np.isfinite(mins), mins, 0.0)
                data = (data - mins[:, None, None].astype(np.float32)) / spans[
                    :, None, None].astype(np.float32)
    tiles = np.full((rows * cols, h + pad, w + pad), np.nan, dtype=np.float32)
    tiles[:c, :h, :w] = data
    image = tiles.reshape(rows, cols, h + pad, w + pad).transpose(0, 2, 1, 3)
    image = image.reshape(rows * (h + pad), cols * (w + pad))
    if pad:
        image = image[:-pad, :-pad]
    return Mosaic(values=np.ascontiguousarray(image), rows=rows, cols=cols, cell_h=h, cell_w=w,
                  pad=pad, channels=c, lo=lo, hi=hi)


def colorize(
    values: np.ndarray, colormap: str = "viridis", background: tuple[int, int, int, int] = (0, 0, 0, 0)
) -> np.ndarray:
    """Map 0..1 values to an (H, W, 4) uint8 RGBA image; NaN and inf become ``background``."""
    # One 32-bit gather per pixel from a 257-entry table (the last entry is the background)
    # is ~10x faster than indexing an (N, 4) table: a 911x911 mosaic takes ~2 ms.
    table = np.empty((257, 4), dtype=np.uint8)
    table[:256] = lookup_table(colormap)
    table[256] = background
    packed = table.view(np.uint32).reshape(257)
    values = np.asarray(values, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        scaled = np.multiply(values, 255.0, dtype=np.float32)
        scaled += 0.5
        np.clip(scaled, 0.0, 255.0, out=scaled)
        index = scaled.astype(np.uint16)
    index[~np.isfinite(values)] = 256
    return np.take(packed, index).view(np.uint8).reshape(*values.shape, 4)


def render_mosaic(
    value: torch.Tensor | np.ndarray,
    colormap: str = "viridis",
    scale: Scale = "shared",
    pad: int = 1,
    background: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> tuple[Mosaic, np.ndarray]:
    """Channels of a node output as a mosaic and its RGBA image (diverging maps centre 0)."""
    mosaic = make_mosaic(as_channels(value), scale=scale, pad=pad,
                         symmetric=colormap in DIVERGING)
    return mosaic, colorize(mosaic.values, colormap, background)


@dataclasses.dataclass(frozen=True)
class Stats:
    """Summary of a node output (first sample of the batch).

    Attributes:
        shape: shape of the full output tensor.
        min, max, mean, std: over all finite values.
        zero_share: fraction of values exactly zero (what a ReLU switched off).
        negative_share: fraction of values below zero.
        count: number of values summarised.
    """

    shape: tuple[int, ...]
    min: float
    max: float
    mean: float
    std: float
    zero_share: float
    negative_share: float
    count: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def tensor_stats(value: torch.Tensor | np.ndarray) -> Stats:
    """Statistics of a node output (the first sample when batched)."""
    shape = tuple(value.shape)
    array = as_channels(value)
    finite = array[np.isfinite(array)].astype(np.float64)
    if finite.size == 0:
        return Stats(shape, math.nan, math.nan, math.nan, math.nan, 0.0, 0.0, 0)
    return Stats(
        shape=shape,
        min=float(finite.min()),
        max=float(finite.max()),
        mean=float(finite.mean()),
        std=float(finite.std()),
        zero_share=float(np.count_nonzero(finite == 0.0) / finite.size),
        negative_share=float(np.count_nonzero(finite < 0.0) / finite.size),
        count=int(finite.size),
    )


def histogram(value: torch.Tensor | np.ndarray | None, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges of the finite values (``bins`` + 1 edges)."""
    array = as_channels(value) if value is not None else np.zeros(0, np.float32)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return np.zeros(bins, dtype=np.int64), np.linspace(0.0, 1.0, bins + 1)
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.histogram(finite, bins=bins, range=(lo, hi))


@dataclasses.dataclass
class KernelView:
    """Learned kernels of a conv layer drawn as one RGBA image.

    Attributes:
        rgba: (H, W, 4) uint8 image.
        rows: grid rows (filters, or filters' groups of tiles).
        cols: grid columns.
        note: what is shown, e.g. "64 filters x first 16 of 64 input channels, 3x3".
    """

    rgba: np.ndarray
    rows: int
    cols: int
    note: str


def conv_kernels(
    module: nn.Module, max_filters: int = 64, max_inputs: int = 16, colormap: str = "coolwarm"
) -> KernelView | None:
    """The learned kernels of a conv layer, or None if ``module`` has none to show.

    Filters over 3 input channels (the first layer of an RGB model) are drawn in colour;
    otherwise each row is one filter and each column one input channel, on a diverging
    colour map centred on zero. Depthwise filters (one input each) fill a square grid.
    """
    if not isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return None
    weight = module.weight.detach().to("cpu", torch.float32)
    if weight.ndim == 3:
        weight = weight[:, :, None, :]
    elif weight.ndim == 5:
        weight = weight[:, :, weight.shape[2] // 2]
    out_c, in_c, kh, kw = weight.shape
    shown = min(out_c, max_filters)
    more = f" (first {shown} of {out_c})" if shown < out_c else ""
    w = weight[:shown].numpy()
    if in_c == 3 and kh * kw > 1:
        m = float(np.abs(w).max()) or 1.0
        rgb = np.clip((w / m + 1.0) * 0.5, 0, 1).transpose(0, 2, 3, 1)  # (F, kh, kw, 3)
        rows, cols = grid_shape(shown, kh, kw)
        tiles = np.zeros((rows * cols, kh + 1, kw + 1, 4), dtype=np.uint8)
        tiles[:shown, :kh, :kw, :3] = np.rint(rgb * 255).astype(np.uint8)
        tiles[:shown, :kh, :kw, 3] = 255
        image = tiles.reshape(rows, cols, kh + 1, kw + 1, 4).transpose(0, 2, 1, 3, 4)
        image = image.reshape(rows * (kh + 1), cols * (kw + 1), 4)[:-1, :-1]
        note = f"{shown} RGB filters{more}, {kh}x{kw}"
        return KernelView(np.ascontiguousarray(image), rows, cols, note)
    if in_c == 1:
        mosaic = make_mosaic(w[:, 0], scale="shared", symmetric=True)
        note = f"{shown} {'depthwise ' if module.groups > 1 else ''}filters{more}, {kh}x{kw}"
        return KernelView(colorize(mosaic.values, colormap), mosaic.rows, mosaic.cols, note)
    inputs = min(in_c, max_inputs)
    more_in = f"first {inputs} of {in_c}" if inputs < in_c else f"{in_c}"
    # rows = filters, columns = input channels; a 1x1 conv thus shows its weight matrix.
    sub = w[:, :inputs]
    m = float(np.abs(sub).max()) or 1.0
    pad = 0 if kh * kw == 1 else 1
    tiles = np.full((shown, inputs, kh + pad, kw + pad), np.nan, dtype=np.float32)
    tiles[:, :, :kh, :kw] = (sub / m + 1.0) * 0.5
    image = tiles.transpose(0, 2, 1, 3).reshape(shown * (kh + pad), inputs * (kw + pad))
    if pad:
        image = image[:-pad, :-pad]
    note = f"{shown} filters{more} x {more_in} input channels, {kh}x{kw}"
    return KernelView(colorize(image, colormap), shown, inputs, note)
