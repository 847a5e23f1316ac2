"""Scene items of the architecture graph: nodes, edges and frames around open blocks.

Items return exact bounding rects, cache what they can and draw less when zoomed out
(Qt's 40,000-chip demo switches detail on the level of detail the same way).
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from explorer.graph.facts import format_shape
from explorer.ui import theme as themes
from explorer.ui.graph_glyphs import (  # noqa: F401 - glyph names are part of this module's API
    GLYPH_BRANCHES,
    GLYPH_DENSE,
    GLYPH_DENSE_INPUT,
    GLYPH_PROJECTION,
    GLYPH_SKIP,
    GLYPH_WIDTH,
    Glyph,
    glyph_kind,
    glyph_pens,
)


class ThemedScene(Protocol):
    """What an item needs of its scene: the theme it paints with.

    Items ask their scene through this protocol instead of importing ``GraphScene``, which
    imports the items (the cycle ``graph_items`` <-> ``graph_scene`` is gone).
    """

    theme_name: str


def scene_theme(item: QGraphicsItem) -> str:
    """The theme of the scene holding ``item`` ("light" while it is in none)."""
    scene: ThemedScene | None = item.scene()  # type: ignore[assignment]
    return scene.theme_name if scene is not None else "light"

# Below these zoom levels text is unreadable anyway: draw boxes only, then no labels on edges.
LOD_TEXT = 0.4
LOD_EDGE_LABEL = 0.85

_PEN_STYLES = {"solid": Qt.PenStyle.SolidLine, "dash": Qt.PenStyle.DashLine,
               "dot": Qt.PenStyle.DotLine}

FRAME_TITLE_H = 16.0  # height of one frame title row
FRAME_INSET = 3.0  # how far a nested frame sharing its parent's top steps in

NODE_TYPE = QGraphicsItem.UserType + 1
EDGE_TYPE = QGraphicsItem.UserType + 2
FRAME_TYPE = QGraphicsItem.UserType + 3


def _lod(painter: QPainter) -> float:
    return QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())


# Paint runs for every visible item on every repaint: fonts, their metrics and edge pens
# are made once per (base font, size, weight) or (edge kind, theme), not per call.
_FONTS: dict[tuple[str, float, bool], tuple[QFont, QFontMetricsF]] = {}
_EDGE_PENS: dict[tuple[str, str], tuple[QPen, QColor]] = {}


def _font(base: QFont, size: float, bold: bool = False) -> tuple[QFont, QFontMetricsF]:
    key = (base.key(), size, bold)
    found = _FONTS.get(key)
    if found is None:
        font = QFont(base)
        font.setPointSizeF(size)
        font.setBold(bold)
        found = _FONTS[key] = (font, QFontMetricsF(font))
    return found


def _edge_pen(kind: str, theme: str) -> tuple[QPen, QColor]:
    found = _EDGE_PENS.get((kind, theme))
    if found is None:
        style = themes.edge_style(kind, theme)
        col = themes.color(style["color"])
        if "alpha" in style:
            col.setAlphaF(float(style["alpha"]))
        pen = QPen(col, float(style["width"]))
        pen.setStyle(_PEN_STYLES.get(style.get("style", "solid"), Qt.PenStyle.SolidLine))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        found = _EDGE_PENS[(kind, theme)] = (pen, col)
    return found


class NodeItem(QGraphicsItem):
    """One drawn unit: a layer, a closed block, or a folded run of blocks."""

    MARGIN = 4.0

    def __init__(self, unit: str, attrs: dict[str, Any], rect: tuple[float, float, float, float]) -> None:
        super().__init__()
        self.unit = unit
        self.attrs = attrs
        x, y, w, h = rect
        self._rect = QRectF(0, 0, w, h)
        self.setPos(x, y)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(2)
        self.highlighted = False
        self.search_hit = False
        self.tint: QColor | None = None  # a metric overlay's fill (graph_overlay.py)
        self._elided: tuple[str, str, str, str] | None = None  # (fonts' key, title, subtitle, extra)
        kind = glyph_kind(attrs)
        self.glyph = Glyph(kind, attrs, self._rect) if kind else None
        self._bounds = self._make_bounds()
        self.setToolTip(self._tooltip())

    def type(self) -> int:
        return NODE_TYPE

    def _tooltip(self) -> str:
        a = self.attrs
        lines = [a.get("module_path") or self.unit, a.get("summary", "")]
        if a.get("shape"):
            lines.append("output " + format_shape(a["shape"]))
        if a.get("unit") != "node":
            lines.append(f"{len(a.get('members', []))} layers · double-click to open")
        return "\n".join(line for line in lines if line)

    def set_tint(self, color: QColor | None, note: str = "") -> None:
        """Fill with ``color`` instead of the category colour (None: back to it); ``note``
        (the metric's value) ends the tooltip."""
        self.tint = color
        self.setToolTip(self._tooltip() + (f"\n{note}" if note else ""))
        self.update()

    @property
    def is_block(self) -> bool:
        return self.attrs.get("unit") in ("block", "fold")

    def glyph_kind(self) -> str:
        """The glyph this item draws ("" for none); see the GLYPH_* constants."""
        return self.glyph.kind if self.glyph is not None else ""

    def _make_bounds(self) -> QRectF:
        m = self.MARGIN
        extra = 6.0 if self.attrs.get("unit") == "fold" else 0.0
        out = self._rect.adjusted(-m, -m, m + extra, m + extra)
        if self.glyph is not None:
            out = out.united(self.glyph.bounds())
        return out

    def boundingRect(self) -> QRectF:
        return self._bounds

    def set_marks(self, *, highlighted: bool | None = None, search_hit: bool | None = None) -> None:
        if highlighted is not None:
            self.highlighted = highlighted
        if search_hit is not None:
            self.search_hit = search_hit
        self.update()

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.update()
        return super().itemChange(change, value)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        theme = scene_theme(self)
        a = self.attrs
        fill = self.tint or themes.category_color(a.get("category", "other"), theme, a.get("block_type") or None)
        border = themes.graph_color("aux_border" if a.get("aux") else "node_border", theme)
        width = 1.0
        if self.isSelected():
            border, width = themes.graph_color("selected", theme), 3.0
        elif self.highlighted:
            border, width = themes.graph_color("highlight", theme), 3.0
        elif self.search_hit:
            border, width = themes.graph_color("search_hit", theme), 3.0
        lod = _lod(painter)
        radius = 8.0 if self.is_block else 5.0
        if a.get("unit") == "fold":  # a stack of cards: several identical blocks
            painter.setPen(QPen(border, 1.0))
            painter.setBrush(QBrush(fill.darker(115)))
            painter.drawRoundedRect(self._rect.translated(6, 6), radius, radius)
            painter.drawRoundedRect(self._rect.translated(3, 3), radius, radius)
        pen = QPen(border, width)
        if a.get("aux"):
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(self._rect, radius, radius)
        if self.glyph is not None:
            self._paint_glyph(painter, theme, lod)
        if lod < LOD_TEXT:
            return
        text_color = themes.graph_color("node_text", theme)
        sub_color = themes.graph_color("node_subtext", theme)
        inner = self._rect.adjusted(8, 3, -8, -3)
        if self.glyph is not None and self.glyph.kind not in (GLYPH_SKIP, GLYPH_PROJECTION):
            inner.setLeft(GLYPH_WIDTH + 6)  # the glyph sits on the left
        base = painter.font()
        title_font, title_metrics = _font(base, 9.0, self.is_block)
        sub_font, sub_metrics = _font(base, 7.5)
        title, sub, extra = self._texts(title_font.key() + sub_font.key(), title_metrics,
                                        sub_metrics, inner.width())
        rows = 3 if extra else 2
        row = inner.height() / rows
        painter.setFont(title_font)
        painter.setPen(text_color)
        painter.drawText(QRectF(inner.left(), inner.top(), inner.width(), row),
                         Qt.AlignmentFlag.AlignCenter, title)
        painter.setFont(sub_font)
        painter.setPen(sub_color)
        for i, text in enumerate((extra, sub) if extra else (sub,)):
            painter.drawText(QRectF(inner.left(), inner.top() + row * (i + 1), inner.width(), row),
                             Qt.AlignmentFlag.AlignCenter, text)

    def _paint_glyph(self, painter: QPainter, theme: str, lod: float) -> None:
        glyph = self.glyph
        line, mark, col, fill = glyph_pens(glyph.kind, theme)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(line)
        painter.drawPath(glyph.lines)
        painter.setPen(mark)
        painter.setBrush(fill)
        painter.drawPath(glyph.marks)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(glyph.ticks)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(col)
        painter.drawPath(glyph.solid)
        if glyph.texts and lod >= LOD_TEXT:
            painter.setFont(_font(painter.font(), 6.5, True)[0])
            painter.setPen(col)
            for rect, text in glyph.texts:
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _texts(self, font_key: str, title_metrics: QFontMetricsF, sub_metrics: QFontMetricsF,
               width: float) -> tuple[str, str, str]:
        """Title, subtitle and an optional middle line, elided to ``width``; computed once
        per pair of fonts."""
        if self._elided is not None and self._elided[0] == font_key:
            return self._elided[1], self._elided[2], self._elided[3]
        a = self.attrs
        title = a.get("label", self.unit)
        sub = a.get("summary", "")
        extra = ""
        shape = format_shape(a.get("shape"))
        if self.glyph_kind() == GLYPH_DENSE:
            # what the comb means, in words: the layer count and the growth rate
            extra = f"×{a['dense_layers']} layers"
            if a.get("growth"):
                extra += f", +{a['growth']} each"
            sub = f"→ {shape}" if shape else sub
        elif self.is_block and shape:
            sub = f"{sub} → {shape}" if sub else shape
        title = title_metrics.elidedText(title, Qt.TextElideMode.ElideMiddle, width)
        sub = sub_metrics.elidedText(sub, Qt.TextElideMode.ElideRight, width)
        extra = sub_metrics.elidedText(extra, Qt.TextElideMode.ElideRight, width)
        self._elided = (font_key, title, sub, extra)
        return title, sub, extra


class EdgeItem(QGraphicsItem):
    """A routed edge styled by kind, with the tensor shape written on it when zoomed in."""

    def __init__(self, source: str, target: str, attrs: dict[str, Any],
                 points: list[tuple[float, float]]) -> None:
        super().__init__()
        self.source = source
        self.target = target
        self.attrs = attrs
        self.kind = attrs.get("kind", "plain")
        self._path = self._build_path(points)
        self._arrow = self._build_arrow(points)
        self._label = format_shape(attrs.get("shape")) if self.kind != "dense" else ""
        mid = self._path.pointAtPercent(0.5) if points else QPointF()
        self._label_pos = QPointF(mid.x() + 5, mid.y() + 3)
        self._bounds = self._path.boundingRect().united(self._arrow.boundingRect()).adjusted(-3, -3, 3, 3)
        if self._label:
            width = 7.0 * len(self._label) + 10
            self._bounds = self._bounds.united(QRectF(self._label_pos.x(), mid.y() - 10, width, 16))
        self.setZValue(1 if self.kind != "dense" else 0.5)

    def type(self) -> int:
        return EDGE_TYPE

    @staticmethod
    def _build_path(points: list[tuple[float, float]]) -> QPainterPath:
        path = QPainterPath()
        if not points:
            return path
        path.moveTo(*points[0])
        for (x1, y1), (x2, y2) in zip(points, points[1:]):
            if x1 == x2 or y1 == y2:
                path.lineTo(x2, y2)
            else:  # vertical flow: leave and arrive vertically
                my = (y1 + y2) / 2
                path.cubicTo(QPointF(x1, my), QPointF(x2, my), QPointF(x2, y2))
        return path

    @staticmethod
    def _build_arrow(points: list[tuple[float, float]]) -> QPolygonF:
        if len(points) < 2:
            return QPolygonF()
        (x1, y1), (x2, y2) = points[-2], points[-1]
        if x1 != x2 and y1 != y2:
            x1 = x2  # the curve arrives vertically
        dx, dy = x2 - x1, y2 - y1
        length = max((dx * dx + dy * dy) ** 0.5, 1e-6)
        ux, uy = dx / length, dy / length
        size = 7.0
        tip = QPointF(x2, y2)
        left = QPointF(x2 - ux * size - uy * size / 2, y2 - uy * size + ux * size / 2)
        right = QPointF(x2 - ux * size + uy * size / 2, y2 - uy * size - ux * size / 2)
        return QPolygonF([tip, left, right])

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        theme = scene_theme(self)
        pen, col = _edge_pen(self.kind, theme)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        lod = _lod(painter)
        if lod >= LOD_TEXT:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(col)
            painter.drawPolygon(self._arrow)
        if self._label and lod >= LOD_EDGE_LABEL:
            painter.setFont(_font(painter.font(), 7.0)[0])
            painter.setPen(themes.graph_color("edge_label", theme))
            painter.drawText(self._label_pos, self._label)


class FrameItem(QGraphicsItem):
    """A titled box behind an open block or a stage."""

    def __init__(self, path: str, label: str, rect: tuple[float, float, float, float],
                 title_row: int = 0) -> None:
        super().__init__()
        self.path = path
        self.label = label
        self.title_row = title_row
        x, y, w, h = rect
        # A frame nested in one with the same top steps in a little, so the two dashed
        # borders stay apart, and writes its title on a lower row (see frame_title_rows).
        inset = FRAME_INSET * title_row
        self._rect = QRectF(inset, inset, w - 2 * inset, h - 2 * inset)
        self.setPos(x, y)
        self.setZValue(-1 - path.count("."))
        self.setToolTip(f"{label}\ndouble-click to close")

    def type(self) -> int:
        return FRAME_TYPE

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        theme = scene_theme(self)
        pen = QPen(themes.graph_color("frame_border", theme), 1.0)
        pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(themes.graph_color("frame_fill", theme))
        painter.drawRoundedRect(self._rect, 10, 10)
        if _lod(painter) >= LOD_TEXT:
            font, fm = _font(painter.font(), 8.0)
            painter.setFont(font)
            painter.setPen(QColor(themes.graph_color("frame_text", theme)))
            r = self._rect
            text = fm.elidedText(self.label, Qt.TextElideMode.ElideMiddle, r.width() - 16)
            top = 2 + self.title_row * (FRAME_TITLE_H - FRAME_INSET)  # from the outer frame's top
            painter.drawText(QRectF(r.left() + 8, top, r.width() - 16, FRAME_TITLE_H - 2),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
