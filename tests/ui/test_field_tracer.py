"""The receptive-field tracer in the feature-map panel: a click on a unit draws its field
on the input, upstream nodes outline the region it sees, a new image forgets it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from explorer.graph import build_named_graph
from explorer.graph.receptive_field import unit_box
from explorer.session import WeightsChoice

MODEL = "resnet18_small"
NODE = "layer2_0_conv1"  # 7x7 map, field 25 px, stride 4
RANDOM = WeightsChoice("random", seed=1)


@pytest.fixture
def panel(feature_panel, tmp_path):
    return feature_panel(MODEL, RANDOM, tmp_path / "no-data", node=NODE)


def _click_channel_pixel(qtbot, panel, x: int, y: int) -> None:
    pane = panel.detail_tabs.channel_pane
    pos = pane.widget_pos_of_pixel(x + 0.5, y + 0.5)
    qtbot.mouseClick(pane.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: panel.field.field is not None and not panel.field.busy, timeout=20_000)


def test_clicking_a_unit_draws_its_field_and_effective_field_on_the_input(qtbot, qt_warnings, panel):
    _click_channel_pixel(qtbot, panel, 0, 3)
    field = panel.field.field
    assert (field.node, field.y, field.x) == (NODE, 3, 0)
    expected = unit_box(build_named_graph(MODEL).node(NODE), 3, 0, (28, 28))
    assert field.box == expected
    tracer = panel.field
    box = tracer.box_item.rect()
    assert (box.left(), box.top(), box.width()) == (expected.left, expected.top, expected.size[1])
    assert tracer.box_item.isVisible() and tracer.inside_item.isVisible()
    inside = tracer.inside_item.rect()
    assert inside.left() == 0  # clipped at the image's left border; the rest is padding
    # The effective field is painted over the input: the picture differs from the plain input.
    shown = panel.predictions_box.input_pane.item.image
    assert shown.shape[:2] == (28, 28) and not np.array_equal(shown[:, :, 0], field.display)
    text = tracer.label.text()
    assert "field 25 px" in text and "stride 4" in text and "padding" in text


def test_effective_field_saturates_its_strongest_pixels_and_leaves_the_rest_plain(qtbot, qt_warnings, panel):
    """A gradient is heavy-tailed: scaled to its maximum it showed one bright speck over a
    dimmed input. Its top pixels are full colour; where it is zero the input is plain."""
    from explorer.activations.colormaps import lookup_table
    from explorer.ui.explain.field_tracer import ERF_OPACITY, ERF_PERCENTILE

    _click_channel_pixel(qtbot, panel, 3, 3)
    field = panel.field.field
    erf, display = field.erf, field.display.astype(np.float32)
    shown = panel.predictions_box.input_pane.item.image[:, :, :3].astype(np.float32)
    strong = erf >= np.percentile(erf[erf > 0], ERF_PERCENTILE)
    assert strong.sum() >= 0.05 * (erf > 0).sum() > 1
    hottest = lookup_table("inferno")[255][:3].astype(np.float32)
    expected = (1 - ERF_OPACITY) * display[strong][:, None] + ERF_OPACITY * hottest
    assert np.abs(shown[strong] - expected).max() <= 1
    zero = erf == 0
    if zero.any():
        assert np.abs(shown[zero] - display[zero][:, None]).max() <= 1
    assert f"top {100 - ERF_PERCENTILE}%" in panel.field.label.text()


def test_upstream_node_outlines_the_units_region_and_clear_removes_it(qtbot, qt_warnings, panel):
    _click_channel_pixel(qtbot, panel, 2, 2)
    assert panel.field.unit_item.isVisible()
    panel.show_node("layer1_0_conv1")
    qtbot.waitUntil(lambda: panel.settled and panel.current_node == "layer1_0_conv1", timeout=30_000)
    region = panel.field.region
    assert region is not None and panel.field.unit_item.isVisible()
    rect = panel.field.unit_item.rect()
    top, left, bottom, right = region.clipped
    assert (rect.top(), rect.left(), rect.height()) == (top, left, bottom - top + 1)
    qtbot.mouseClick(panel.field.clear_button, Qt.MouseButton.LeftButton)
    assert panel.field.field is None
    assert not panel.field.box_item.isVisible() and not panel.field.unit_item.isVisible()


def test_mosaic_click_traces_that_channels_unit_and_a_new_image_forgets_it(qtbot, qt_warnings, panel):
    mosaic = panel.view_state.mosaic
    ox, oy = mosaic.channel_origin(1)
    pos = panel.maps.pane.widget_pos_of_pixel(ox + 4.5, oy + 1.5)
    qtbot.mouseClick(panel.maps.pane.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: panel.field.field is not None and not panel.field.busy, timeout=20_000)
    assert (panel.field.field.channel, panel.field.field.y, panel.field.field.x) == (1, 1, 4)
    panel.session.set_image(None)
    assert panel.field.field is None and not panel.field.box_item.isVisible()
