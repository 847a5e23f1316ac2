"""The window's top-images scan and its 3 x 3 picture."""

from __future__ import annotations

import numpy as np

from explorer.explain.top_grid import PATCH_COLOUR, TopScan, scan_test_images, top_grid
from explorer.explain.top_images import Progress

from .conftest import TRAINED_MODEL


def _drain(scan):
    reports = []
    while True:
        try:
            reports.append(next(scan))
        except StopIteration as done:
            return reports, done.value


def test_scan_reports_progress_and_draws_nine_images_with_their_patches(trained, tiny_fashion_root):
    model, _ = trained
    reports, scan = _drain(scan_test_images(model, TRAINED_MODEL, str(tiny_fashion_root), n=200))
    assert isinstance(scan, TopScan) and all(isinstance(r, Progress) for r in reports)
    assert reports[-1].done == reports[-1].total == len(scan.images)
    node = next(n for n in scan.graph.order if scan.graph.node(n).get("category") == "conv")
    grid, shown = top_grid(scan, node, 0)
    h, w = scan.input_size
    assert grid.shape == (3 * h + 4, 3 * w + 4, 4) and len(shown) == 9
    assert shown[0] == scan.result.top(node, 0)[0].image
    assert (grid[:, :, :3] == PATCH_COLOUR).all(axis=2).any()  # patches are outlined
    assert top_grid(scan, "no_such_node", 0) is None
    # A second scan of the same weights and images comes from the cache at once.
    again, _ = _drain(scan_test_images(model, TRAINED_MODEL, str(tiny_fashion_root), n=200))
    assert len(again) == 1 and again[0].cached
    assert np.array_equal(top_grid(_drain(scan_test_images(model, TRAINED_MODEL, str(tiny_fashion_root),
                                                          n=200))[1], node, 0)[0], grid)
