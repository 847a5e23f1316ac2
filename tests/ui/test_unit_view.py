"""The Unit page of the feature-map panel: a click on a unit shows how its value was
computed (terms, the kind's picture, the check against the model's own value); a
concatenation's unit leads to its source's arithmetic; any change of the session clears
it; a unit that is not there is one line in place."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from explorer.session import WeightsChoice

RANDOM = WeightsChoice("random", seed=1)


def _click_channel_pixel(qtbot, panel, x: int, y: int) -> None:
    pane = panel.detail_tabs.channel_pane
    pos = pane.widget_pos_of_pixel(x + 0.5, y + 0.5)
    qtbot.mouseClick(pane.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: not panel.field.busy, timeout=20_000)


@pytest.fixture
def conv_panel(feature_panel, tmp_path):
    return feature_panel("resnet18_small", RANDOM, tmp_path / "no-data", node="layer2_0_conv1")


def test_clicking_a_conv_unit_shows_its_terms_and_a_tick(qtbot, qt_warnings, conv_panel):
    panel = conv_panel
    view = panel.unit_view
    panel.detail_tabs.setCurrentWidget(view)
    _click_channel_pixel(qtbot, panel, 0, 3)
    result = view.result
    assert result is not None and result.kind == "conv"
    channel = panel._enlarged  # the channel the enlarged pane shows
    assert result.unit == (channel, 3, 0)
    assert view.title.text() == f"{result.node} · channel {channel} at (3, 0)"
    assert view.table.rowCount() >= 2
    assert view.table.item(0, 0).text() == result.terms[0].label
    assert result.matches and "✓" in view.check.text() and "(recomputed)" in view.check.text()
    assert view.detail.isVisibleTo(view)  # the patch, the kernel slice and the products
    assert panel.detail_tabs.currentWidget() is view  # the click did not switch the page away


@pytest.mark.parametrize(("model", "nodes"), [
    ("resnet18_small", {"bn1": "batch_norm", "relu": "relu", "maxpool": "max_pool", "fc": "linear",
                        "output": "softmax"}),
    ("lenet5_small", {"s2": "subsampling", "f6": "lenet_linear", "rbf": "rbf"}),
])
def test_every_kind_draws_its_arithmetic_and_the_check(qtbot, qt_warnings, feature_panel, tmp_path, model, nodes):
    panel = feature_panel(model, RANDOM, tmp_path / "no-data")
    view = panel.unit_view
    panel.detail_tabs.setCurrentWidget(view)
    for node, kind in nodes.items():
        panel.show_node(node)
        qtbot.waitUntil(lambda node=node: panel.settled and panel.current_node == node, timeout=30_000)
        spatial = len(panel.view_state.shape) == 4
        panel.maps.unit_clicked.emit(1, 0.5, 0.5)
        result = view.result
        assert result is not None and result.kind == kind, (node, view.title.text())
        assert result.unit == ((1, 0, 0) if spatial else (1,))
        assert "✓" in view.check.text(), (node, view.check.text())
        assert view.formula.text() == result.formula
    qtbot.waitUntil(lambda: not panel.field.busy, timeout=20_000)


def test_a_knockout_clears_the_unit(qtbot, qt_warnings, conv_panel):
    panel = conv_panel
    view = panel.unit_view
    view.explain(0, (1, 1))
    assert view.result is not None
    panel.session.set_knockouts(["layer1.0.conv1:3"])
    assert view.result is None and view.table.rowCount() == 0 and view.check.text() == ""
    qtbot.waitUntil(lambda: panel.settled, timeout=30_000)


def test_a_unit_outside_the_node_is_one_line_in_place(qtbot, qt_warnings, conv_panel):
    view = conv_panel.unit_view
    view.explain(0, (1, 1))
    view.explain(10_000, (0, 0))
    assert view.result is None
    text = view.title.text()
    assert "outside" in text and "\n" not in text
    assert view.table.rowCount() == 0 and view.check.text() == ""


def test_a_concatenation_unit_leads_to_its_source(qtbot, qt_warnings, feature_panel, tmp_path):
    panel = feature_panel("googlenet_small", RANDOM, tmp_path / "no-data", node="cat")
    view = panel.unit_view
    channel = panel.view_state.shape[1] - 1  # the last branch's last channel
    panel.maps.unit_clicked.emit(channel, 0.5, 0.5)
    qtbot.waitUntil(lambda: not panel.field.busy, timeout=20_000)
    result = view.result
    assert result is not None and result.kind == "cat"
    source = result.detail
    assert f"channel {channel} of the concatenation is channel {source.index[0]} of {source.source}" in (
        view.detail.findChildren(type(view.title))[0].text())
    assert view.source_button.isVisibleTo(view)
    highlighted = []
    view.highlight_node.connect(highlighted.append)
    view.source_button.click()
    assert highlighted == [panel.stepper.nodes[source.source_index].name]  # the graph knows nodes by id
    shown = view.result
    assert shown.node == source.source and shown.unit == source.index and shown.kind != "cat"
    assert shown.matches and "✓" in view.check.text()
    assert panel.current_node == "cat"  # the panel stays where it was


def test_clicking_a_class_bar_explains_that_class(qtbot, feature_panel, fashion_root):
    """The output shows labelled bars, not a mosaic: a click on a bar is the click on that
    class's unit (lenet5_small's RBF output, the window's walk found it unreachable)."""
    from PySide6.QtCore import QPointF

    from explorer.session import WeightsChoice

    panel = feature_panel("lenet5_small", WeightsChoice("random", seed=1), fashion_root, node="rbf")
    chart = panel.maps.class_chart
    assert panel.maps.showing_classes and chart.order
    qtbot.waitExposed(chart)
    plot = chart.getPlotItem()
    row = 2  # the third bar from the top
    scene = plot.vb.mapViewToScene(QPointF(0.05, row))
    qtbot.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=chart.mapFromScene(scene))
    result = panel.unit_view.result
    assert result is not None and result.unit == (chart.order[row],) and result.matches
