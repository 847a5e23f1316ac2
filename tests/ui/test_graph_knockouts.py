"""The graph and the session's knockouts: right-click on a graph block switches its shortcut
off in the session's knockout list, and the graph draws every knockout struck through."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSizeF
from PySide6.QtGui import QColor, QContextMenuEvent, QImage
from PySide6.QtWidgets import QApplication

from explorer.loading import LoadedModel
from explorer.models import get_model
from explorer.session import Session, WeightsChoice
from explorer.ui.graph import knockout_style
from explorer.ui.graph.panel import GraphPanel
from explorer.ui.theme import load_theme

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
        assert session.deliver(LoadedModel.of(MODEL, RANDOM, get_model(MODEL)))
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


# ----------------------------------------------------------------------------------------
# The graph shows the network as it runs now: the session's knockouts struck through.

KNOCKOUT = QColor(load_theme("light")["graph"]["knockout"])


def _open(qtbot, model: str) -> tuple[Session, GraphPanel]:
    session = Session()
    panel = GraphPanel(session)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    with qtbot.waitSignal(panel.graph_ready, timeout=60_000):
        session.set_model(model, RANDOM)
        assert session.deliver(LoadedModel.of(model, RANDOM, get_model(model)))
    qtbot.waitUntil(lambda: panel._populating is None and panel.view_graph is not None, timeout=30_000)
    return session, panel


def _expand(qtbot, panel: GraphPanel, unit: str) -> None:
    panel.expand_all()
    qtbot.waitUntil(lambda: panel._populating is None and unit in panel.scene.nodes
                    and not panel.progress.isVisible(), timeout=60_000)


def _close(qtbot, panel: GraphPanel, unit: str) -> None:
    panel.collapse_all()
    qtbot.waitUntil(lambda: panel._populating is None and unit in panel.scene.nodes
                    and not panel.progress.isVisible(), timeout=60_000)


def _shown(panel: GraphPanel, scene_rect: QRectF) -> tuple[QImage, QRect]:
    """The view's pixels at zoom 1 centred on ``scene_rect``, and where that rect lies in them."""
    panel.view.resetTransform()
    panel.view.centerOn(scene_rect.center())
    QApplication.processEvents()
    image = panel.view.viewport().grab().toImage()
    return image, panel.view.mapFromScene(scene_rect).boundingRect().intersected(image.rect())


def _knockout_pixels(panel: GraphPanel, scene_rect: QRectF) -> int:
    """How many pixels of the knockout colour (strike, ✕, badge) the view shows in ``scene_rect``."""
    image, rect = _shown(panel, scene_rect)
    count = 0
    for x in range(rect.left(), rect.right() + 1):
        for y in range(rect.top(), rect.bottom() + 1):
            c = image.pixelColor(x, y)
            if (abs(c.red() - KNOCKOUT.red()) + abs(c.green() - KNOCKOUT.green())
                    + abs(c.blue() - KNOCKOUT.blue())) < 45:
                count += 1
    return count


def _fill_pixel(panel: GraphPanel, unit: str) -> QColor:
    """The colour inside a node's top-left corner (clear of its text and strike line)."""
    rect = panel.scene.nodes[unit].sceneBoundingRect()
    item_rect = panel.scene.nodes[unit].mapRectToScene(panel.scene.nodes[unit]._rect)
    image, _ = _shown(panel, rect)
    return image.pixelColor(panel.view.mapFromScene(item_rect.topLeft() + QPointF(6, 5)))


def _close_to(a: QColor, b: QColor, tolerance: int = 8) -> bool:
    return max(abs(a.red() - b.red()), abs(a.green() - b.green()), abs(a.blue() - b.blue())) <= tolerance


def _marked(panel: GraphPanel) -> tuple[dict, dict]:
    """Every node and edge drawn with a knockout mark: unit -> (struck, badge, glyph parts),
    (source, target) -> "cut" or "idle"."""
    nodes = {u: (i.knocked_out, i.knockout_badge, i.glyph_off) for u, i in panel.scene.nodes.items()
             if i.knocked_out or i.knockout_badge or i.glyph_off}
    edges = {(e.source, e.target): e.knockout for e in panel.scene.edges if e.knockout}
    return nodes, edges


def test_resnet_shortcuts_and_a_channel_are_drawn_knocked_out_closed_and_open(qtbot, qt_warnings):
    session, panel = _open(qtbot, MODEL)
    assert _marked(panel) == ({}, {})
    assert _knockout_pixels(panel, panel.scene.nodes["m:layer1.0"].sceneBoundingRect()) == 0
    session.set_knockouts(("layer2.0:shortcut", "layer1.0:shortcut", "layer1.0.conv1:3"))
    # Blocks closed: each block hiding a knockout says so; its skip arc is crossed out.
    nodes, edges = _marked(panel)
    assert nodes == {"m:layer1.0": (False, "2 knockouts", frozenset({"shortcut"})),
                     "m:layer2.0": (False, "1 knockout", frozenset({"shortcut"}))}
    assert edges == {}
    assert panel.legend.knocked_out and not panel.legend.knockout_rect().isEmpty()
    block = panel.scene.nodes["m:layer1.0"]
    assert "knocked out: identity shortcut of layer1.0; channel 3 of layer1.0.conv1" in block.toolTip()
    assert _knockout_pixels(panel, block.sceneBoundingRect()) > 40  # the badge and the ✕
    assert _knockout_pixels(panel, panel.scene.nodes["m:layer1.1"].sceneBoundingRect()) == 0
    cross = block.mapRectToScene(QRectF(block.glyph.anchors["shortcut"] - QPointF(4, 4), QSizeF(8, 8)))
    assert _knockout_pixels(panel, cross) > 5
    # Every layer open: the projection's layers struck through and their edges idle, the
    # identity skip cut (a ✕ at its middle), the channel's layer badged.
    _expand(qtbot, panel, "layer2_0_downsample_0")
    nodes, edges = _marked(panel)
    assert nodes == {"layer2_0_downsample_0": (True, "", frozenset()),
                     "layer2_0_downsample_1": (True, "", frozenset()),
                     "layer1_0_conv1": (False, "c3 off", frozenset())}
    skip = next(e for e in panel.scene.edges if e.kind == "residual" and e.target == "add")
    assert edges.pop((skip.source, "add")) == "cut"
    assert set(edges.values()) == {"idle"}
    assert all("layer2_0_downsample" in f"{u} {v}" for u, v in edges)
    middle = QRectF(skip.cross_point() - QPointF(4, 4), QSizeF(8, 8))
    assert _knockout_pixels(panel, middle) > 5
    projection = panel.scene.nodes["layer2_0_downsample_0"]
    assert _knockout_pixels(panel, projection.sceneBoundingRect()) > 40  # the strike line
    fill = projection.fill_color("light")
    assert not _close_to(_fill_pixel(panel, "layer2_0_downsample_0"), fill)
    assert _close_to(_fill_pixel(panel, "layer2_0_downsample_0"), knockout_style.dimmed(fill, "light"))
    badge = panel.scene.nodes["layer1_0_conv1"]
    assert _knockout_pixels(panel, badge.mapRectToScene(badge.badge_rect())) > 40
    # Other weights of the same network: the knockouts stay (while they load, and after).
    marked = _marked(panel)
    other = WeightsChoice("random", seed=2)
    session.set_weights(other)
    assert session.module is None and _marked(panel) == marked
    assert session.deliver(LoadedModel.of(MODEL, other, get_model(MODEL)))
    assert _marked(panel) == marked
    # Restored: nothing is marked, nothing red is left.
    session.set_knockouts(())
    assert _marked(panel) == ({}, {})
    assert not panel.legend.knocked_out
    assert _knockout_pixels(panel, middle) == 0
    assert _knockout_pixels(panel, projection.sceneBoundingRect()) == 0
    assert _close_to(_fill_pixel(panel, "layer2_0_downsample_0"), fill)


def test_googlenet_branch_and_aux_head_are_struck_through_and_follow_the_view(qtbot, qt_warnings):
    session, panel = _open(qtbot, "googlenet_small")
    session.set_knockouts(("inception3a.branch2", "aux1"))
    # Blocks closed: the aux head is struck through whole, its edge idle; the Inception
    # block hides the branch: a badge and its second branch crossed out in the glyph.
    nodes, edges = _marked(panel)
    assert nodes == {"m:aux1": (True, "", frozenset()),
                     "m:inception3a": (False, "1 knockout", frozenset({1}))}
    assert edges == {("m:inception4a", "m:aux1"): "idle"}
    aux = panel.scene.nodes["m:aux1"]
    assert _knockout_pixels(panel, aux.sceneBoundingRect()) > 40
    fill = aux.fill_color("light")
    assert not _close_to(_fill_pixel(panel, "m:aux1"), fill)
    assert _close_to(_fill_pixel(panel, "m:aux1"), knockout_style.dimmed(fill, "light"))
    block = panel.scene.nodes["m:inception3a"]
    bar = block.mapRectToScene(QRectF(block.glyph.anchors[1] - QPointF(4, 4), QSizeF(8, 8)))
    assert _knockout_pixels(panel, bar) > 5
    # Every layer open: the branch's four layers and the aux head's layers struck through.
    _expand(qtbot, panel, "inception3a_branch2_0_conv")
    nodes, edges = _marked(panel)
    branch = {u for u in nodes if u.startswith("inception3a_branch2_")}
    assert len(branch) == 4 and all(nodes[u] == (True, "", frozenset()) for u in branch)
    assert {u for u in nodes if u.startswith("aux1_")} == {u for u in panel.scene.nodes if u.startswith("aux1_")}
    assert not any(u.startswith(("inception3a_branch1", "inception3a_branch3")) for u in nodes)
    assert set(edges.values()) == {"idle"}
    assert (("inception3a_branch2_1_relu", "cat") in edges)
    conv = panel.scene.nodes["inception3a_branch2_0_conv"]
    assert _knockout_pixels(panel, conv.sceneBoundingRect()) > 40
    sibling = panel.scene.nodes["inception3a_branch3_0_conv"]
    assert _knockout_pixels(panel, sibling.sceneBoundingRect()) == 0
    # Closed again: re-applied to the new items.
    _close(qtbot, panel, "m:inception3a")
    assert _marked(panel)[0]["m:inception3a"] == (False, "1 knockout", frozenset({1}))
    # Another model empties the knockouts: nothing stays marked.
    session.set_model(MODEL, RANDOM)
    assert _marked(panel) == ({}, {}) and not panel.legend.knocked_out
