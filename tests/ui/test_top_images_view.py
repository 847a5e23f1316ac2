"""The Top images tab: a background scan with a progress bar for trained weights, then
the enlarged channel's nine test images; random weights are told why there is none."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from explorer.session import WeightsChoice

MODEL = "lenet5_small"


@pytest.fixture
def make_panel(feature_panel, fashion_root):
    return lambda weights: feature_panel(MODEL, weights, fashion_root)


def _open_tab(qtbot, panel):
    tabs = panel.detail_tabs
    index = tabs.indexOf(panel.top_view)
    qtbot.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton, pos=tabs.tabBar().tabRect(index).center())


def test_scan_shows_progress_then_the_channels_top_nine(qtbot, qt_warnings, make_panel, tmp_path):
    panel = make_panel(WeightsChoice("file", path=str(tmp_path / "weights.pt")))
    panel.show_node("c1")
    qtbot.waitUntil(lambda: panel.settled and panel.current_node == "c1", timeout=30_000)
    view = panel.top_view
    progress = []
    view._job.progress.connect(lambda _n, p: progress.append(p.done))
    _open_tab(qtbot, panel)
    qtbot.waitUntil(lambda: view.scan is not None, timeout=120_000)
    assert progress and progress[-1] == view.scan.result.n_images and not view.progress_bar.isVisible()
    node, channel = panel.current_node, panel._enlarged
    expected = [hit.image for hit in view.scan.result.top(node, channel)]
    assert view.shown == expected and len(expected) == 9
    assert view.pane.item.image is not None and f"channel {channel} of {node}" in view.caption.text()
    panel.select_channel(1)  # another channel: redrawn from the same scan, no new scan
    _open_tab(qtbot, panel)
    assert view.shown == [hit.image for hit in view.scan.result.top(node, 1)] and not view.busy


def test_random_weights_say_why_there_is_nothing(qtbot, qt_warnings, make_panel):
    panel = make_panel(WeightsChoice("random", seed=1))
    _open_tab(qtbot, panel)
    assert panel.top_view.caption.text().startswith("Top images need trained weights")
    assert panel.top_view.scan is None and not panel.top_view.busy
    assert np.asarray(panel.top_view.shown).size == 0
