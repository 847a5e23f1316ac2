"""Mosaic layout and scaling, colour maps, statistics, histogram and kernels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from explorer.activations.colormaps import COLORMAPS, lookup_table
from explorer.activations.mosaic import (
    as_channels,
    colorize,
    conv_kernels,
    grid_shape,
    histogram,
    make_mosaic,
    render_mosaic,
    tensor_stats,
)


def test_mosaic_layout_and_channel_lookup():
    channels = np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4)
    mosaic = make_mosaic(channels, pad=1)
    assert mosaic.channels == 5 and mosaic.rows * mosaic.cols >= 5
    assert mosaic.values.shape == (mosaic.rows * 4 - 1, mosaic.cols * 5 - 1)
    for c in range(5):
        x, y = mosaic.channel_origin(c)
        assert mosaic.channel_at(x, y) == c
        assert mosaic.channel_at(x + 3.9, y + 2.9) == c
        tile = mosaic.values[y : y + 3, x : x + 4]
        assert np.allclose(tile * (mosaic.hi - mosaic.lo) + mosaic.lo, channels[c])
    x, y = mosaic.channel_origin(0)
    assert mosaic.channel_at(x + 4, y) is None  # the gap
    assert mosaic.channel_at(-1, 0) is None
    assert np.isnan(mosaic.values[3, 0])  # gap rows are NaN


def test_shared_and_per_channel_scales():
    channels = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 3.0)]).astype(np.float32)
    channels[0, 0, 0] = 0.0
    channels[1, 0, 0] = 2.0
    shared = make_mosaic(channels, scale="shared", pad=0, columns=2)
    assert np.nanmin(shared.values) == 0.0 and np.nanmax(shared.values) == 1.0
    assert shared.values[0, 2] == pytest.approx(2 / 3)
    per = make_mosaic(channels, scale="per_channel", pad=0, columns=2)
    assert per.values[0, 0] == 0.0 and per.values[0, 2] == 0.0 and per.values[1, 3] == 1.0
    symmetric = make_mosaic(np.array([[[-2.0, 1.0]]], np.float32), symmetric=True, pad=0)
    assert symmetric.values[0, 0] == 0.0 and symmetric.values[0, 1] == 0.75


def test_constant_and_256_channel_maps():
    constant = make_mosaic(np.zeros((3, 4, 4), np.float32))
    assert np.isfinite(constant.values).sum() == 48
    big = make_mosaic(np.random.default_rng(0).random((256, 56, 56), dtype=np.float32))
    assert (big.rows, big.cols) == (16, 16) and grid_shape(256, 56, 56) == (16, 16)


def test_colorize_and_tables():
    for name in COLORMAPS:
        table = lookup_table(name)
        assert table.shape == (256, 4) and table.dtype == np.uint8 and (table[:, 3] == 255).all()
    rgba = colorize(np.array([[0.0, 1.0, np.nan]], np.float32), "gray", background=(1, 2, 3, 4))
    assert rgba.shape == (1, 3, 4)
    assert tuple(rgba[0, 0]) == (0, 0, 0, 255) and tuple(rgba[0, 1]) == (255, 255, 255, 255)
    assert tuple(rgba[0, 2]) == (1, 2, 3, 4)


def test_as_channels_shapes():
    assert as_channels(torch.zeros(2, 8, 5, 6)).shape == (8, 5, 6)
    vector = as_channels(torch.arange(10.0).reshape(1, 10))
    assert vector.shape == (1, 3, 4) and np.isnan(vector[0, 2, 3]) and vector[0, 0, 1] == 1.0
    assert as_channels(torch.zeros(1, 4, 9)).shape == (4, 1, 9)
    assert as_channels(torch.tensor(3.0)).shape == (1, 1, 1)
    mosaic, rgba = render_mosaic(torch.randn(1, 16, 7, 7), colormap="coolwarm")
    assert rgba.shape[:2] == mosaic.values.shape and mosaic.lo == -mosaic.hi


def test_stats_and_histogram():
    relu = torch.relu(torch.tensor([[[[-1.0, 0.5], [2.0, -3.0]]]]))
    stats = tensor_stats(relu)
    assert stats.shape == (1, 1, 2, 2) and stats.zero_share == 0.5
    assert (stats.min, stats.max, stats.mean) == (0.0, 2.0, pytest.approx(0.625))
    assert stats.negative_share == 0.0 and stats.count == 4
    counts, edges = histogram(torch.randn(1, 4, 8, 8), bins=16)
    assert counts.sum() == 256 and len(edges) == 17
    counts, edges = histogram(torch.zeros(1, 2, 2, 2))
    assert counts.sum() == 8


def test_conv_kernels():
    rgb = conv_kernels(nn.Conv2d(3, 10, 5))
    assert rgb.note == "10 RGB filters, 5x5" and rgb.rgba.ndim == 3 and rgb.rgba.shape[2] == 4
    wide = conv_kernels(nn.Conv2d(64, 128, 3))
    assert "first 64 of 128" in wide.note and "first 16 of 64 input" in wide.note
    assert wide.rgba.shape[:2] == (64 * 4 - 1, 16 * 4 - 1)
    pointwise = conv_kernels(nn.Conv2d(8, 4, 1))
    assert pointwise.rgba.shape[:2] == (4, 8)  # the 1x1 conv's weight matrix
    depthwise = conv_kernels(nn.Conv2d(32, 32, 3, groups=32))
    assert "depthwise" in depthwise.note
    assert conv_kernels(nn.ReLU()) is None and conv_kernels(nn.Linear(3, 3)) is None
