"""Right-click on a graph block switches its shortcut off in the session's knockout list."""

from __future__ import annotations

from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from explorer.models import get_model
from explorer.session import Session, WeightsChoice
from explorer.ui.graph.panel import GraphPanel

MODEL = "resnet18_small"
RANDOM = WeightsChoice("random", seed=1)


def _right_click(widget, point) -> None:
    """The context-menu event a right click sends (QTest's click sends none offscreen)."""
    QApplication.sendEvent(widget, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, point,
                                                     widget.mapToGlobal(point)))


def test_right_click_on_a_residual_block_offers_its_shortcut(qtbot, qt_warnings, monkeypatch):
    session = Session()
    panel = GraphPanel(session)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    with qtbot.waitSignal(panel.graph_ready, timeout=60_000):
        session.set_model(MODEL, RANDOM)
        assert session.set_module(MODEL, RANDOM, get_model(MODEL))
    qtbot.waitUntil(lambda: panel._populating is None and "m:layer2.0" in panel.scene.nodes, timeout=30_000)
    popups = []
    monkeypatch.setattr(panel.knockout_menu.menu, "popup", popups.append)
    item = panel.scene.nodes["m:layer2.0"]
    panel.view.centerOn(item)
    point = panel.view.mapFromScene(item.sceneBoundingRect().center())
    _right_click(panel.view.viewport(), point)
    assert len(popups) == 1
    actions = panel.knockout_menu.menu.actions()
    assert [a.text() for a in actions] == ["Switch off the shortcut of layer2.0"]
    actions[0].trigger()
    assert session.knockouts == ("layer2.0:shortcut",)
    # A plain layer offers nothing: no menu.
    stem = next(u for u in panel.scene.nodes if not u.startswith("m:") and u.startswith("conv1"))
    point = panel.view.mapFromScene(panel.scene.nodes[stem].sceneBoundingRect().center())
    _right_click(panel.view.viewport(), point)
    assert len(popups) == 1
