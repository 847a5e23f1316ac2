"""The window's top-images scan and picture (no Qt): read the held-out test images once,
scan them with a copy of the model (a generator: progress per batch, cached on disk by
:mod:`~explorer.explain.top_images`), and draw one channel's nine images as a 3 x 3 grid
with the patch its strongest unit sees outlined.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from explorer.explain.held_out import held_out
from explorer.explain.top_images import Progress, TopImages, top_images

SCAN_IMAGES = 2000  # test images scanned: a quick first scan; the cache makes later ones free
PATCH_COLOUR = (0, 220, 255)
GAP = 2  # pixels between tiles


@dataclasses.dataclass(frozen=True)
class TopScan:
    """A finished scan: the result, the raw test images it ran on, the graph for boxes."""

    result: TopImages
    images: np.ndarray  # (N, 28, 28) uint8, the test images as stored
    labels: np.ndarray
    input_size: tuple[int, int]
    graph: Any


def scan_test_images(model: torch.nn.Module, model_name: str, data_root: str | None,
                     n: int = SCAN_IMAGES) -> Generator[Progress, None, TopScan]:
    """Scan the first ``n`` test images for every channel's top nine.

    Raises:
        UserError: not a Fashion-MNIST model, or no data in ``data_root``.
    """
    from explorer.graph.trace import build_graph
    from explorer.models import get_model_info

    info = get_model_info(model_name)
    data = held_out(model_name, data_root, n)
    raw, labels, x = data.raw, data.labels, data.x
    model = copy.deepcopy(model).eval()
    result = yield from top_images(model, model_name, x, images=raw, k=9)
    graph = build_graph(model, tuple(x[:1].shape), name=model_name)
    return TopScan(result, raw.cpu().numpy(), labels.cpu().numpy(), tuple(info.input_size), graph)


def top_grid(scan: TopScan, node: str, channel: int) -> tuple[np.ndarray, list[int]] | None:
    """The channel's top images as one (H, W, 4) uint8 grid, patches outlined, and the
    test-image indices shown (best first); None when the node was not scanned."""
    try:
        patches = scan.result.patches(scan.graph, node, channel, scan.input_size)
    except (KeyError, IndexError):
        return None
    height, width = scan.input_size
    cols = 3
    rows = max(1, math.ceil(len(patches) / cols))
    grid = np.full((rows * (height + GAP) - GAP, cols * (width + GAP) - GAP, 4), 255, dtype=np.uint8)
    grid[:, :, :3] = 200
    shown = []
    for i, (hit, box) in enumerate(patches):
        tile = _tile(scan.images[hit.image], (height, width))
        if box.clipped is not None:
            top, left, bottom, right = box.clipped
            for r, c in ((slice(top, bottom + 1), left), (slice(top, bottom + 1), right),
                         (top, slice(left, right + 1)), (bottom, slice(left, right + 1))):
                tile[r, c, :3] = PATCH_COLOUR
        row, col = divmod(i, cols)
        y, x = row * (height + GAP), col * (width + GAP)
        grid[y:y + height, x:x + width] = tile
        shown.append(hit.image)
    return grid, shown


def _tile(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A raw 28 x 28 test image at the model's input size (nearest), as RGBA."""
    h, w = image.shape
    rows = (np.arange(size[0]) * h // size[0]).clip(0, h - 1)
    cols = (np.arange(size[1]) * w // size[1]).clip(0, w - 1)
    grey = image[rows][:, cols]
    tile = np.empty((*size, 4), dtype=np.uint8)
    tile[:, :, :3] = grey[:, :, None]
    tile[:, :, 3] = 255
    return tile
