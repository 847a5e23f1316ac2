"""The graph scene: items for a laid-out view, theme, marks, and rendering to files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from explorer.errors import UserError
from explorer.explain.knockout_view import ViewMarks
from explorer.graph.collapse import ViewGraph
from explorer.graph.layout import Layout
from explorer.ui import theme as themes
from explorer.ui.graph.captions import FrameCaption
from explorer.ui.graph.items import FRAME_TITLE_H, EdgeItem, FrameItem, NodeItem

SCENE_MARGIN = 30.0
MAX_IMAGE_SIDE = 16000


class GraphScene(QGraphicsScene):
    """Holds the items of one view; knows the theme they paint with.

    Signals:
        populated(): every item of a new view is in the scene (another model, or blocks
            opened or closed); an overlay colours the new items then.
        theme_changed(str): the items paint in this theme now (an overlay recolours).
    """

    populated = Signal()
    theme_changed = Signal(str)

    def __init__(self, theme: str = "light", parent=None) -> None:
        super().__init__(parent)
        self.theme_name = theme
        self.nodes: dict[str, NodeItem] = {}
        self.edges: list[EdgeItem] = []
        self.frames: dict[str, FrameItem] = {}
        self.captions: dict[str, FrameCaption] = {}  # open blocks' names for far zooms
        self._highlighted: str | None = None
        self._hits: set[str] = set()
        self._selected: set[NodeItem] = set()
        self.setBackgroundBrush(themes.graph_color("background", theme))
        self.selectionChanged.connect(self._on_selection_changed)

    def set_theme(self, name: str) -> None:
        themes.load_theme(name)  # validates the name before anything changes
        self.theme_name = name
        self.setBackgroundBrush(themes.graph_color("background", name))
        for item in self.nodes.values():
            redraw(item)
        self.update()
        self.theme_changed.emit(name)

    def populate(self, view: ViewGraph, layout: Layout) -> None:
        for _ in self.populate_steps(view, layout):
            pass

    def populate_steps(self, view: ViewGraph, layout: Layout, chunk: int = 400,
                       budget_s: float = 0.02) -> Iterator[int]:
        """Replace the items, yielding the count so far so a caller can keep the GUI live.

        Yields after every ``chunk`` items or ``budget_s`` seconds of work, whichever
        comes first: on a loaded machine a fixed count can take far longer than usual.
        """
        self.clear_items()
        added = 0
        clock = time.perf_counter
        since = clock()
        rows = frame_title_rows(layout.frames)
        inside = {path: units for path, _label, units in view.frames}
        for path, label, rect in layout.frames:
            item = FrameItem(path, label, rect, title_row=rows[path])
            self.addItem(item)
            self.frames[path] = item
            heights = [layout.sizes[u][1] for u in inside.get(path, ()) if u in layout.sizes]
            caption = FrameCaption(item, min(heights, default=rect[3]))
            self.addItem(caption)
            self.captions[path] = caption
        for unit in view.order:
            item = NodeItem(unit, view.graph.nodes[unit], layout.rect(unit))
            self.addItem(item)
            self.nodes[unit] = item
            added += 1
            if added % chunk == 0 or clock() - since > budget_s:
                yield added
                since = clock()
        for u, v, attrs in view.graph.edges(data=True):
            item = EdgeItem(u, v, attrs, layout.routes.get((u, v), []), layout.direction == "LR")
            self.addItem(item)
            self.edges.append(item)
            added += 1
            if added % chunk == 0 or clock() - since > budget_s:
                yield added
                since = clock()
        self.setSceneRect(QRectF(-SCENE_MARGIN, -SCENE_MARGIN, layout.width + 2 * SCENE_MARGIN,
                                 layout.height + 2 * SCENE_MARGIN))
        self.populated.emit()
        yield added

    def clear_items(self) -> None:
        """Remove every item (another model is being prepared)."""
        self._selected = set()  # before clear(), which may report the selection gone
        self.clear()
        self.nodes.clear()
        self.edges.clear()
        self.frames.clear()
        self.captions.clear()
        self._highlighted = None
        self._hits = set()

    def set_highlight(self, unit: str | None) -> None:
        if self._highlighted in self.nodes:
            self.nodes[self._highlighted].set_marks(highlighted=False)
            redraw(self.nodes[self._highlighted])
        self._highlighted = unit if unit in self.nodes else None
        if self._highlighted is not None:
            self.nodes[self._highlighted].set_marks(highlighted=True)
            redraw(self.nodes[self._highlighted])

    def set_search_hits(self, units: list[str]) -> None:
        for unit in self._hits - set(units):
            if unit in self.nodes:
                self.nodes[unit].set_marks(search_hit=False)
                redraw(self.nodes[unit])
        self._hits = {u for u in units if u in self.nodes}
        for unit in self._hits:
            self.nodes[unit].set_marks(search_hit=True)
            redraw(self.nodes[unit])

    def set_node_tints(self, tints: dict[str, tuple[QColor | None, str]]) -> None:
        """Fill units with a metric's colour and add its value to their tooltips; a unit
        missing from ``tints`` (or given None) is drawn in its category colour again."""
        for unit, item in self.nodes.items():
            tint = tints.get(unit, (None, ""))
            changed = item.tint != tint[0]
            item.set_tint(*tint)
            if changed:
                redraw(item)

    def set_knockout_marks(self, marks: ViewMarks | None) -> None:
        """Draw the session's knockouts as ``marks`` say (None: nothing knocked out)."""
        marks = marks or ViewMarks()
        for unit, item in self.nodes.items():
            if item.set_knockout(unit in marks.struck, marks.badges.get(unit, ""),
                                 marks.glyph_off.get(unit, frozenset()), marks.notes.get(unit, ())):
                redraw(item)
        for edge in self.edges:
            if edge.set_knockout(marks.edges.get((edge.source, edge.target), "")):
                redraw(edge)

    def node_tints(self) -> dict[str, QColor]:
        """The metric colours the nodes are filled with now (none without an overlay)."""
        return {unit: QColor(item.tint) for unit, item in self.nodes.items() if item.tint is not None}

    def _on_selection_changed(self) -> None:
        selected = {item for item in self.selectedItems() if isinstance(item, NodeItem)}
        for item in selected ^ self._selected:
            redraw(item)
        self._selected = selected

    def selected_unit(self) -> str | None:
        for item in self.selectedItems():
            if isinstance(item, NodeItem):
                return item.unit
        return None


def redraw(item: QGraphicsItem) -> None:
    """Repaint ``item`` in every view of its scene, the minimap included.

    ``update()`` marks a device-coordinate cache stale for whichever view paints the item
    next, and only that one: the other view went on drawing its old pixmap (the minimap
    kept the light theme, an overlay's colours or a mark). Dropping the cache makes every
    view draw the item afresh.
    """
    mode = item.cacheMode()
    if mode != QGraphicsItem.CacheMode.NoCache:
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        item.setCacheMode(mode)
    item.update()


def frame_title_rows(frames: list[tuple[str, str, tuple[float, float, float, float]]],
                     ) -> dict[str, int]:
    """Which title row each frame writes on, so nested frames' titles do not collide.

    A block opened inside an open block (DenseNet's first dense layer inside its dense
    block) gets a frame whose top edge is where its parent's is: its title goes one row
    lower for every enclosing frame that shares its top.
    """
    rows: dict[str, int] = {}
    for path, _label, (x, y, w, h) in sorted(frames, key=lambda f: f[0].count(".")):
        row = 0
        for other, _l, (ox, oy, ow, oh) in frames:
            if (other != path and path.startswith(other + ".") and abs(oy - y) < FRAME_TITLE_H
                    and ox <= x + w and x <= ox + ow):
                row = max(row, rows.get(other, 0) + 1)
        rows[path] = row
    return rows


def render_scene(scene: QGraphicsScene, path: str | Path, *, scale: float = 1.0) -> Path:
    """Write the whole scene to a PNG or SVG file: drawn whole in memory, then written
    atomically as an export (``exports.write_export``), so a full disk or a refused place
    leaves the previous file as it was and no partial one.

    Raises:
        UserError: the suffix is neither .png nor .svg, the path is refused (an app
            folder, a name too long), or the file cannot be written.
    """
    from explorer.exports import check_export_path, write_export

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise UserError(f"cannot export to {path.name}: use a .png or .svg file name")
    check_export_path(path)  # before drawing: a refused place costs no rendering
    return write_export(path, render_scene_bytes(scene, suffix, scale=scale, title=path.stem))


def render_scene_bytes(scene: QGraphicsScene, suffix: str, *, scale: float = 1.0, title: str = "") -> bytes:
    """The whole scene encoded as ``.svg`` or ``.png`` bytes (nothing is written).

    Raises:
        UserError: the image could not be encoded.
    """
    # Cached items would paint their cached pixmaps: an SVG of bitmaps, without text.
    cached = [(item, item.cacheMode()) for item in scene.items()
              if item.cacheMode() != QGraphicsItem.CacheMode.NoCache]
    for item, _mode in cached:
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    try:
        _render(scene, buffer, suffix.lower(), scale, title)
    finally:
        buffer.close()
        for item, mode in cached:
            item.setCacheMode(mode)
    data = bytes(array.data())
    if not data:
        raise UserError(f"cannot draw the graph as {suffix.lstrip('.').upper()}")
    return data


def _render(scene: QGraphicsScene, buffer: QBuffer, suffix: str, scale: float, title: str) -> None:
    rect = scene.sceneRect()
    if suffix == ".svg":
        from PySide6.QtSvg import QSvgGenerator

        generator = QSvgGenerator()
        generator.setOutputDevice(buffer)
        generator.setSize(QSize(int(rect.width()), int(rect.height())))
        generator.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
        generator.setTitle(title)
        painter = QPainter(generator)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        scene.render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
        painter.end()
    else:
        scale = min(scale, MAX_IMAGE_SIDE / max(rect.width(), rect.height(), 1.0))
        image = QImage(max(1, int(rect.width() * scale)), max(1, int(rect.height() * scale)),
                       QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(scene.backgroundBrush().color())
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        scene.render(painter, QRectF(image.rect()), rect, Qt.AspectRatioMode.KeepAspectRatio)
        painter.end()
        if not image.save(buffer, "PNG"):
            raise UserError("cannot encode the graph as PNG")
