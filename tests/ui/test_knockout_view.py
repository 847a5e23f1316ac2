"""The Knockout tab: a mosaic right-click switches a channel off, top-5 and held-out
accuracy before and after, undo one by one, bad specs dropped; weights never touched."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt

from explorer.explain.knockout_report import HELD_OUT
from explorer.loading import LoadedModel
from explorer.models import get_model
from explorer.session import Session, WeightsChoice
from explorer.train.data import image_count
from explorer.ui.maps.panel import FeatureMapPanel

MODEL = "resnet18_small"
RANDOM = WeightsChoice("random", seed=1)


@pytest.fixture
def panel(qtbot, fashion_root):
    session = Session()
    widget = FeatureMapPanel(session, device="cpu", data_root=fashion_root)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    torch.manual_seed(0)
    module = get_model(MODEL)
    widget.weights_before = {k: v.clone() for k, v in module.state_dict().items()}
    with qtbot.waitSignal(widget.view_updated, timeout=30_000):
        session.set_model(MODEL, RANDOM)
        assert session.deliver(LoadedModel.of(MODEL, RANDOM, module))
    qtbot.waitUntil(lambda: widget.settled, timeout=30_000)
    widget.show_node("layer1_0_conv1")
    qtbot.waitUntil(lambda: widget.settled and widget.current_node == "layer1_0_conv1", timeout=30_000)
    yield widget
    widget.stop()


def _wait_report(qtbot, view, specs):
    qtbot.waitUntil(lambda: view.report is not None and not view.busy
                    and tuple(k.spec for k in view.report.knockouts) == tuple(specs), timeout=60_000)


def test_right_click_switches_a_channel_off_and_measures_before_and_after(qtbot, qt_warnings, panel,
                                                                          monkeypatch, fashion_root):
    # The offscreen platform warns when a menu grabs the keyboard: record the popup instead.
    popups = []
    monkeypatch.setattr(panel.maps.channel_menu, "popup", popups.append)
    mosaic = panel.view_state.mosaic
    ox, oy = mosaic.channel_origin(3)
    pane = panel.maps.pane
    qtbot.mouseClick(pane.viewport(), Qt.MouseButton.RightButton,
                     pos=pane.widget_pos_of_pixel(ox + 2.5, oy + 2.5))
    assert len(popups) == 1 and panel.maps.knockout_action.text() == "Switch off channel 3"
    panel.maps.knockout_action.trigger()
    assert panel.session.knockouts == ("layer1.0.conv1:3",)  # the node's one name, not fx's id
    view = panel.knockout_view
    assert panel.detail_tabs.currentWidget() is view
    _wait_report(qtbot, view, ["layer1.0.conv1:3"])
    report = view.report
    # HELD_OUT test images, or all of them in a clone without ../shared (the tiny set has 200)
    assert report.images == min(HELD_OUT, image_count(fashion_root, train=False))
    assert report.accuracy_before is not None
    assert "channel 3 of layer1.0.conv1" in view.list_widget.item(0).text()
    assert f"{report.accuracy_before * 100:.1f}% → {report.accuracy_after * 100:.1f}%" in view.accuracy_label.text()
    assert "points" in view.accuracy_label.text()
    assert view.top5_table.item(0, 0).text().startswith(report.top_before.top[0].name)
    # The module the explorer shows keeps its weights and has no hooks left.
    module = panel.session.module
    for key, value in module.state_dict().items():
        assert torch.equal(value, panel.weights_before[key])
    assert not any(m._forward_hooks for m in module.modules())


def test_shortcut_undo_one_by_one_and_a_bad_spec_is_dropped(qtbot, qt_warnings, panel):
    view = panel.knockout_view
    panel.detail_tabs.setCurrentWidget(view)
    view.add("layer1_0_conv1:3")
    _wait_report(qtbot, view, ["layer1_0_conv1:3"])
    qtbot.keyClicks(view.spec_edit, "layer2.0:shortcut")
    qtbot.mouseClick(view.add_button, Qt.MouseButton.LeftButton)
    _wait_report(qtbot, view, ["layer1_0_conv1:3", "layer2.0:shortcut"])
    assert view.list_widget.count() == 2 and "shortcut of layer2.0" in view.list_widget.item(1).text()
    qtbot.keyClicks(view.spec_edit, "nosuchlayer:4")
    qtbot.keyClick(view.spec_edit, Qt.Key.Key_Return)
    _wait_report(qtbot, view, ["layer1_0_conv1:3", "layer2.0:shortcut"])
    assert panel.session.knockouts == ("layer1_0_conv1:3", "layer2.0:shortcut")
    assert "bad knockout 'nosuchlayer:4'" in view.accuracy_label.text()
    qtbot.mouseClick(view.undo_button, Qt.MouseButton.LeftButton)
    _wait_report(qtbot, view, ["layer1_0_conv1:3"])
    qtbot.mouseClick(view.undo_button, Qt.MouseButton.LeftButton)
    _wait_report(qtbot, view, [])
    assert view.report.accuracy_after == view.report.accuracy_before
    assert not view.undo_button.isEnabled()


def test_the_latest_knockout_is_in_view_and_whole_in_a_narrow_tab(qtbot, qt_warnings, panel):
    """A long description neither scrolls sideways nor hides the rest of its text, and a
    list longer than its room shows the knockout just added."""
    panel.resize(480, 700)
    view = panel.knockout_view
    panel.detail_tabs.setCurrentWidget(view)
    specs = [*(f"layer1_0_conv1:{c}" for c in range(10)), "layer2.0:shortcut"]
    for spec in specs:
        view.add(spec)
    _wait_report(qtbot, view, specs)
    listed = view.list_widget
    qtbot.waitUntil(lambda: listed.viewport().width() < panel.detail_pages.width() < 400, timeout=5_000)
    longest = max((listed.item(row).text() for row in range(listed.count())), key=len)
    assert listed.fontMetrics().horizontalAdvance(longest) > listed.viewport().width()  # needs wrapping
    last = listed.visualItemRect(listed.item(len(specs) - 1))
    assert "shortcut of layer2.0" in listed.item(len(specs) - 1).text()
    assert listed.viewport().rect().contains(last), (last, listed.viewport().rect())
    assert listed.verticalScrollBar().maximum() > 0  # the list is longer than its room
