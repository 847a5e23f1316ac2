"""Issue 11, what a reader sees at a glance: Fit always fits the whole graph, nodes write
their short name when small (never nothing), the minimap follows and steers the view, the
legend sits beside the graph, and the layout can run left to right."""

from __future__ import annotations

import re

import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsItem
from torch import nn

from explorer.graph import build_graph, expanded_state, layout_view, make_view, prepare_view
from explorer.session import Session
from explorer.ui.graph.items import LOD_DETAIL, MIN_LABEL_BOX_PX, SHORT_NAME_MIN_PX, elide_name, short_name_pixels
from explorer.ui.graph.panel import GraphPanel
from explorer.ui.graph.scene import GraphScene


class Chain(nn.Module):
    """A long chain: far taller than any window at 100 %."""

    def __init__(self, n: int = 30) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=1) for _ in range(n)])
        self.head = nn.Linear(2 * 8 * 8, 3)

    def forward(self, x):
        return self.head(torch.flatten(self.layers(x), 1))


@pytest.fixture(scope="module")
def chain_graph():
    return build_graph(Chain().eval(), (1, 2, 8, 8), name="chain")


@pytest.fixture
def panel(qtbot):
    widget = GraphPanel(Session())
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    return widget


def _show(qtbot, panel, module=None):
    with qtbot.waitSignal(panel.graph_ready, timeout=30000):
        panel.show_module(module or Chain(), (1, 2, 8, 8), "chain")
    qtbot.waitUntil(lambda: panel._populating is None and not panel.progress.isVisible(), timeout=30000)


def _contains(outer: QRectF, inner: QRectF, slack: float = 1.0) -> bool:
    return outer.adjusted(-slack, -slack, slack, slack).contains(inner)


def test_a_model_opens_fitted_and_fit_always_fits(qtbot, panel):
    _show(qtbot, panel)
    scene_rect = panel.scene.sceneRect()
    assert scene_rect.height() > 2 * panel.view.viewport().height()  # a tall graph
    assert _contains(panel.view.visible_scene_rect(), scene_rect)  # the whole graph at once
    panel.view.zoom_by(5.0)
    panel.view.pan_by(300, 900)
    assert not _contains(panel.view.visible_scene_rect(), scene_rect)
    qtbot.mouseClick(panel.fit_button, Qt.MouseButton.LeftButton)
    assert _contains(panel.view.visible_scene_rect(), scene_rect)
    # fitted means centred too: no sideways scroll (LeNet-5's complaint)
    visible = panel.view.visible_scene_rect()
    assert abs(visible.center().x() - scene_rect.center().x()) * panel.view.zoom() < 2  # screen px


def _texts_at(scene: GraphScene, lod: float, tmp_path) -> list[str]:
    """The texts the scene draws when painted at zoom ``lod`` (through an SVG painter)."""
    rect = scene.sceneRect()
    out = tmp_path / f"at_{lod}.svg"
    generator = QSvgGenerator()
    generator.setFileName(str(out))
    generator.setSize(QSize(int(rect.width() * lod) + 1, int(rect.height() * lod) + 1))
    painter = QPainter(generator)
    scene.render(painter, QRectF(0, 0, rect.width() * lod, rect.height() * lod), rect)
    painter.end()
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", out.read_text()) if t.strip()]


def test_small_nodes_write_their_short_name_never_nothing(qtbot, chain_graph, tmp_path):
    view, layout = prepare_view(chain_graph, expanded_state(chain_graph))
    scene = GraphScene()
    scene.populate(view, layout)
    for item in scene.items():  # paint, not cached pixmaps, so the SVG shows the texts
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    names = {item.short_name() for item in scene.nodes.values()}
    summaries = {item.attrs.get("summary") for item in scene.nodes.values()} - {""} - names
    detailed = _texts_at(scene, 1.0, tmp_path)
    assert names <= set(detailed) and summaries & set(detailed)  # zoomed in: everything
    for lod in (LOD_DETAIL * 0.9, 0.45, 0.3):
        shown = _texts_at(scene, lod, tmp_path)
        assert names <= set(shown), lod  # every node still names itself ...
        assert not summaries & set(shown), lod  # ... and only that
    # below a box a letter fits in, nothing (the minimap's scale)
    lod = (MIN_LABEL_BOX_PX - 1) / 40.0
    assert not names & set(_texts_at(scene, lod, tmp_path))


def test_a_long_short_name_keeps_its_index(qtbot):
    # GoogLeNet's fitted overview wrote "inc…n3a" for inception3a: the index, which tells the
    # nine blocks apart, was cut in two. Issue 19: the word's end stays too, as the tail
    # that differs ("…layer1" against "…block1"), so the cut goes at the front.
    from PySide6.QtGui import QFont, QFontMetricsF

    metrics = QFontMetricsF(QFont())
    name = "inception3a"
    for width in (0.5, 0.7, 0.9):
        room = metrics.horizontalAdvance(name) * width
        text = elide_name(name, metrics, room)
        assert text.startswith("…") and text.endswith("3a") and name.endswith(text[1:]), text
        assert len(text) > 3 and metrics.horizontalAdvance(text) <= room
    assert elide_name(name, metrics, 1000) == name
    assert elide_name("Mixed_5b", metrics, metrics.horizontalAdvance("Mixed_5b") * 0.7).endswith("…5b")
    plain = elide_name("classifier", metrics, metrics.horizontalAdvance("classifier") * 0.6)
    assert "…" in plain and plain[0] == "c" and plain[-1] == "r"  # no index: its middle goes


def test_short_names_stay_readable_on_screen():
    box = 40.0
    for lod in (0.7, 0.5, 0.35, 0.25):
        on_screen = short_name_pixels(lod, box) * lod
        # the minimum size on screen, unless the box itself is smaller than that allows
        assert on_screen >= min(SHORT_NAME_MIN_PX, box * 0.5 * lod) - 2 * lod, lod


def test_minimap_shows_everything_follows_and_steers(qtbot, panel):
    _show(qtbot, panel)
    minimap = panel.minimap
    scene_rect = panel.scene.sceneRect()
    assert _contains(minimap.mapToScene(minimap.viewport().rect()).boundingRect(), scene_rect, 2)
    panel.view.resetTransform()  # 100 %: only part of the graph shows
    panel.view.centerOn(scene_rect.center().x(), scene_rect.top())
    shown = minimap.shown_rect()
    assert shown == panel.view.visible_scene_rect().intersected(scene_rect)
    panel.view.pan_by(0, 200)
    assert minimap.shown_rect().top() == pytest.approx(shown.top() + 200, abs=2)
    # dragging on the minimap moves the view there
    target = QPointF(scene_rect.center().x(), scene_rect.bottom() - 150)
    start = minimap.mapFromScene(QPointF(scene_rect.center().x(), scene_rect.top() + 150))
    end = minimap.mapFromScene(target)
    qtbot.mousePress(minimap.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(minimap.viewport(), pos=end)
    minimap.mouseMoveEvent(_drag_event(end))
    qtbot.mouseRelease(minimap.viewport(), Qt.MouseButton.LeftButton, pos=end)
    centre = panel.view.visible_scene_rect().center()
    assert abs(centre.y() - target.y()) < 10 or panel.view.visible_scene_rect().bottom() >= scene_rect.bottom() - 2
    assert minimap.shown_rect().center().y() > shown.center().y() + 200


def _drag_event(pos):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QMouseEvent

    # offscreen, QTest's mouseMove carries no buttons: a real move event with the left held
    return QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(pos), Qt.MouseButton.NoButton,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)


def test_legend_sits_beside_the_graph_and_folds(qtbot, panel):
    _show(qtbot, panel)
    view_rect, sidebar_rect = (QRect(w.mapTo(panel, QPoint(0, 0)), w.size())
                               for w in (panel.view, panel.sidebar))
    assert not view_rect.intersects(sidebar_rect)  # the legend never covers a node
    assert panel.legend.parentWidget() is not panel.view.viewport()
    assert panel.legend.categories and panel.sidebar.legend_scroll.isVisible()
    qtbot.mouseClick(panel.sidebar.legend_button, Qt.MouseButton.LeftButton)
    assert not panel.sidebar.legend_scroll.isVisible()
    qtbot.mouseClick(panel.sidebar.legend_button, Qt.MouseButton.LeftButton)
    assert panel.sidebar.legend_scroll.isVisible()


def test_left_to_right_layout_points_every_edge_right(chain_graph):
    view = make_view(chain_graph, expanded_state(chain_graph))
    down, across = layout_view(view, "TB"), layout_view(view, "LR")
    assert across.direction == "LR" and down.direction == "TB"
    assert across.width > across.height and down.height > down.width
    for (u, v), points in across.routes.items():
        assert points[-1][0] > points[0][0], (u, v)
        ux, uy = across.positions[u]
        assert points[0] == pytest.approx((ux + across.sizes[u][0] / 2, uy))
    rects = [across.rect(u) for u in view.order]
    for (x1, y1, w1, h1), (x2, y2, w2, h2) in zip(rects, rects[1:]):
        assert x1 + w1 <= x2 or y1 + h1 <= y2 or y2 + h2 <= y1  # no two boxes overlap
    with pytest.raises(ValueError):
        layout_view(view, "RL")


def test_panel_direction_is_kept_for_the_next_model(qtbot, panel):
    _show(qtbot, panel)
    with qtbot.waitSignal(panel.scene.sceneRectChanged, timeout=30000):
        panel.set_direction("LR")
    qtbot.waitUntil(lambda: panel._populating is None and panel.layout_data.direction == "LR", timeout=30000)
    assert panel.state.direction == "LR"
    assert panel.scene.sceneRect().width() > panel.scene.sceneRect().height()
    _show(qtbot, panel, Chain(12))
    assert panel.layout_data.direction == "LR"
