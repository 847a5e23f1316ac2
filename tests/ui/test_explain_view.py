"""The Explain tab: Grad-CAM at the node shown, saliency and occlusion, any class, opacity;
computed in the background only while the tab is visible."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from explorer.session import WeightsChoice

MODEL = "resnet18_small"
RANDOM = WeightsChoice("random", seed=1)


@pytest.fixture
def panel(feature_panel, tmp_path):
    return feature_panel(MODEL, RANDOM, tmp_path / "no-data", node="layer2_0_conv1")


def _open_tab(qtbot, panel):
    tabs = panel.detail_tabs
    index = tabs.indexOf(panel.explain_view)
    qtbot.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton, pos=tabs.tabBar().tabRect(index).center())
    assert tabs.currentWidget() is panel.explain_view


def _wait_map(qtbot, view):
    qtbot.waitUntil(lambda: view.evidence is not None and not view.busy, timeout=30_000)


def _choose(combo, data) -> None:
    combo.setCurrentIndex(combo.findData(data))
    combo.activated.emit(combo.currentIndex())


def test_hidden_tab_computes_nothing_until_shown(qtbot, qt_warnings, panel):
    view = panel.explain_view
    assert view.evidence is None and not view.busy
    _open_tab(qtbot, panel)
    _wait_map(qtbot, view)
    assert view.evidence.attribution.layer == "layer2.0.conv1"
    assert view.caption.text().startswith("Grad-CAM at layer2.0.conv1")
    assert view.pane.item.image.shape[:2] == (28, 28)


def test_method_class_and_opacity(qtbot, qt_warnings, panel):
    view = panel.explain_view
    _open_tab(qtbot, panel)
    _wait_map(qtbot, view)
    predicted = view.evidence.attribution.predicted
    assert view.evidence.attribution.target == predicted  # "predicted class" by default
    other = (predicted + 1) % 10
    _choose(view.class_combo, other)
    qtbot.waitUntil(lambda: view.evidence is not None and view.evidence.attribution.target == other
                    and not view.busy, timeout=30_000)
    _choose(view.method_combo, "saliency")
    qtbot.waitUntil(lambda: view.evidence is not None and view.evidence.attribution.method == "saliency"
                    and not view.busy, timeout=30_000)
    assert "saliency" in view.caption.text()
    view.opacity_slider.setValue(0)
    plain = view.pane.item.image[:, :, 0]
    display = view.evidence.display
    assert np.array_equal(plain, display if display.ndim == 2 else display[:, :, 0])
    view.opacity_slider.setValue(100)
    assert not np.array_equal(view.pane.item.image[:, :, 0], plain)


def test_gradcam_follows_the_node_and_says_when_it_cannot_be_there(qtbot, qt_warnings, panel):
    view = panel.explain_view
    _open_tab(qtbot, panel)
    _wait_map(qtbot, view)
    panel.show_node("layer1_0_conv1")
    qtbot.waitUntil(lambda: view.evidence is not None and view.evidence.attribution.layer == "layer1.0.conv1"
                    and not view.busy, timeout=30_000)
    panel.step_last()
    qtbot.waitUntil(lambda: view.evidence is not None and view.evidence.note != "" and not view.busy,
                    timeout=30_000)
    assert "last convolutional layer" in view.caption.text()
