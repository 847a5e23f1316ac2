"""Readable outputs: class probabilities as labelled bars at the class-score layers, the
mosaic's colour bar, and saving the enlarged channel as PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from explorer.activations.predictions import FASHION_MNIST_CLASSES
from explorer.session import WeightsChoice
from explorer.ui.maps.details import NodeDetailTabs

from .export_checks import assert_export_is_safe

MODEL = "lenet5_small"
RANDOM = WeightsChoice("random", seed=3)


@pytest.fixture
def panel(feature_panel, tmp_path):
    return feature_panel(MODEL, RANDOM, tmp_path / "no-data")


def _go(qtbot, panel, index: int) -> None:
    panel._go_to(index)
    qtbot.waitUntil(lambda: panel.settled and panel.view_state.record.index == (
        index if index >= 0 else panel.view_state.total - 1), timeout=30_000)


def test_output_node_shows_labelled_class_probabilities(qtbot, qt_warnings, panel):
    _go(qtbot, panel, -1)
    assert panel.maps.showing_classes
    assert not panel.maps.color_bar.isVisible()
    values = panel.view_state.channels.reshape(-1)
    logits = torch.from_numpy(values[np.isfinite(values)]).double()
    expected = torch.softmax(logits, 0).numpy()
    shown = dict(panel.maps.class_chart.shown)
    assert set(shown) == set(FASHION_MNIST_CLASSES)
    for i, name in enumerate(FASHION_MNIST_CLASSES):
        assert shown[name] == pytest.approx(expected[i], abs=1e-6)
    probs = [p for _, p in panel.maps.class_chart.shown]
    assert probs == sorted(probs, reverse=True)  # best on top
    ticks = panel.maps.class_chart.getPlotItem().getAxis("left")._tickLevels[0]
    assert ticks[0][1].startswith(panel.maps.class_chart.shown[0][0])


def test_the_channel_tab_shows_class_scores_as_labelled_bars(qtbot, qt_warnings, panel):
    """The walk found the channel view drawing the ten scores as an unlabelled 4x3 grid."""
    tabs = panel.detail_tabs
    _go(qtbot, panel, -1)
    assert tabs.channel_stack.currentWidget() is tabs.scores_chart
    assert tabs.channel_pane.item.image is None and not tabs.save_button.isEnabled()
    values = panel.view_state.channels.reshape(-1)
    scores = values[np.isfinite(values)]
    shown = dict(tabs.scores_chart.shown)
    assert set(shown) == set(FASHION_MNIST_CLASSES)
    for i, name in enumerate(FASHION_MNIST_CLASSES):
        assert shown[name] == pytest.approx(float(scores[i]), abs=1e-6)
    assert [v for _, v in tabs.scores_chart.shown] == sorted(shown.values(), reverse=True)
    labels = tabs.scores_chart.labels()
    assert [label.split("  ")[0] for label in labels] == [name for name, _ in tabs.scores_chart.shown]
    assert "10 class scores" in tabs.channel_label.text()
    _go(qtbot, panel, 1)  # a node of feature maps: its enlarged channel again
    assert tabs.channel_stack.currentWidget() is tabs.channel_pane
    assert tabs.channel_pane.item.image is not None and tabs.save_button.isEnabled()


def test_class_score_layers_are_charts_and_a_hidden_linear_is_a_mosaic(qtbot, qt_warnings, panel):
    stepper = panel.stepper
    _go(qtbot, panel, stepper.index_of("rbf"))  # the RBF layer's scores, one per class
    assert panel.maps.showing_classes
    assert len(panel.maps.class_chart.shown) == 10
    _go(qtbot, panel, stepper.index_of("f6"))  # a hidden Linear layer of 84 units: not class scores
    assert not panel.maps.showing_classes
    _go(qtbot, panel, 1)
    assert not panel.maps.showing_classes
    assert panel.maps.stack.currentWidget() is panel.maps.pane


def test_colour_bar_tells_the_shared_range_and_the_per_channel_scale(qtbot, qt_warnings, panel):
    _go(qtbot, panel, 1)
    bar = panel.maps.color_bar
    assert bar.isVisible()
    mosaic = panel.view_state.mosaic
    assert bar.low_label.text() == f"{mosaic.lo:.3g}" and bar.high_label.text() == f"{mosaic.hi:.3g}"
    combo = panel.maps.scale_combo
    combo.setCurrentIndex(combo.findData("per_channel"))
    combo.activated.emit(combo.currentIndex())
    assert bar.low_label.text() == "each channel's min"


def test_save_png_writes_the_enlarged_channel(qtbot, qt_warnings, panel, tmp_path, monkeypatch):
    _go(qtbot, panel, 1)
    target = tmp_path / "saved" / "map"
    target.parent.mkdir()
    asked = []

    def fake_dialog(*args, **kwargs):
        asked.append(args)
        return str(target), "PNG images (*.png)"

    monkeypatch.setattr("explorer.ui.maps.details.QFileDialog.getSaveFileName", fake_dialog)
    tabs = panel.detail_tabs
    assert tabs.save_button.isEnabled()
    qtbot.mouseClick(tabs.save_button, Qt.MouseButton.LeftButton)
    assert asked
    saved = QImage(str(target) + ".png")
    assert not saved.isNull()
    rgba = tabs._channel_rgba
    h, w = rgba.shape[:2]
    factor = saved.height() // h
    assert saved.width() == w * factor and min(saved.width(), saved.height()) >= 256
    corner = saved.pixelColor(0, 0)
    assert (corner.red(), corner.green(), corner.blue()) == tuple(int(v) for v in rgba[0, 0, :3])
    far = saved.pixelColor(saved.width() - 1, saved.height() - 1)
    assert (far.red(), far.green(), far.blue()) == tuple(int(v) for v in rgba[-1, -1, :3])


def test_cancelled_dialog_writes_nothing(qtbot, qt_warnings, panel, tmp_path, monkeypatch):
    _go(qtbot, panel, 1)
    monkeypatch.setattr("explorer.ui.maps.details.QFileDialog.getSaveFileName", lambda *a, **k: ("", ""))
    qtbot.mouseClick(panel.detail_tabs.save_button, Qt.MouseButton.LeftButton)
    assert not any(tmp_path.rglob("*.png"))
    assert np.asarray(panel.detail_tabs._channel_rgba).ndim == 3


def test_class_scores_are_counted_as_scores_and_the_mosaic_options_rest(qtbot, qt_warnings, panel):
    """At the output the statistics line said "1 channel" (the scores are one 1x1 map to
    the mosaic) and the colour options looked live though the bars do not use them."""
    _go(qtbot, panel, -1)
    assert panel.maps.stats_label.text().startswith("10 class scores  ·  min")
    assert not panel.maps.colormap_combo.isEnabled() and not panel.maps.scale_combo.isEnabled()
    _go(qtbot, panel, 1)
    channels = panel.view_state.mosaic.channels
    assert panel.maps.stats_label.text().startswith(f"{channels} channel{'s' if channels > 1 else ''}  ·  min")
    assert panel.maps.colormap_combo.isEnabled() and panel.maps.scale_combo.isEnabled()


def test_the_maps_zeros_are_named_after_the_map_and_the_channel(qtbot, qt_warnings, panel):
    """One node's output ("zeros in this map") and one channel's, named apart from the
    graph overlay's per-layer zero fraction (a block's: the mean over its layers)."""
    _go(qtbot, panel, 1)
    stats = panel.maps.stats_label.text()
    share = panel.view_state.stats.zero_share * 100
    assert f"zeros in this map {share:.1f}%" in stats and "sparsity" not in stats.lower()
    assert "zeros in this channel " in panel.detail_tabs.channel_label.text()


def test_the_channel_export_asks_keeps_the_old_file_on_a_full_disk_and_avoids_the_runs_folder(
        qtbot, tmp_path, monkeypatch):
    tabs = NodeDetailTabs()
    qtbot.addWidget(tabs)
    tabs.show_channel(np.arange(49, dtype=np.float32).reshape(7, 7), 3, "viridis", True)
    assert_export_is_safe(lambda path, confirmed: tabs.save_channel_to(path, confirmed=confirmed),
                          tabs.channel_label.text, tmp_path, "channel.png", monkeypatch)
