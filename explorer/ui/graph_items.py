"""Scene items of the architecture graph: nodes, edges and frames around open blocks.

Items return exact bounding rects, cache what they can and draw less when zoomed out
(Qt's 40,000-chip demo switches detail on the level of detail the same way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from explorer.graph.facts import format_shape
from explorer.ui import theme as themes

if TYPE_CHECKING:
    from explorer.ui.graph_scene import GraphScene

# Below these zoom levels text is unreadable anyway: draw boxes only, then no labels on edges.
LOD_TEXT = 0.4
LOD_EDGE_LABEL = 0.85

_PEN_STYLES = {"solid": Qt.PenStyle.SolidLine, "dash": Qt.PenStyle.DashLine,
               "dot": Qt.PenStyle.DotLine}

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
        self._elided: tuple[str, str, str] | None = None  # (fonts' key, title, subtitle)
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

    @property
    def is_block(self) -> bool:
        return self.attrs.get("unit") in ("block", "fold")

    def boundingRect(self) -> QRectF:
        m = self.MARGIN
        extra = 6.0 if self.attrs.get("unit") == "fold" else 0.0
        return self._rect.adjusted(-m, -m, m + extra, m + extra)

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
        scene: GraphScene = self.scene()  # type: ignore[assignment]
        theme = scene.theme_name if scene is not None else "light"
        a = self.attrs
        fill = themes.category_color(a.get("category", "other"), theme, a.get("block_type") or None)
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
        if lod < LOD_TEXT:
            return
        text_color = themes.graph_color("node_text", theme)
        sub_color = themes.graph_color("node_subtext", theme)
        inner = self._rect.adjusted(8, 3, -8, -3)
        base = painter.font()
        title_font, title_metrics = _font(base, 9.0, self.is_block)
        sub_font, sub_metrics = _font(base, 7.5)
        title, sub = self._texts(title_font.key() + sub_font.key(), title_metrics, sub_metrics,
                                 inner.width())
        half = inner.height() / 2
        painter.setFont(title_font)
        painter.setPen(text_color)
        painter.drawText(QRectF(inner.left(), inner.top(), inner.width(), half),
                         Qt.AlignmentFlag.AlignCenter, title)
        painter.setFont(sub_font)
        painter.setPen(sub_color)
        painter.drawText(QRectF(inner.left(), inner.top() + half, inner.width(), half),
                         Qt.AlignmentFlag.AlignCenter, sub)

    def _texts(self, font_key: str, title_metrics: QFontMetricsF, sub_metrics: QFontMetricsF,
               width: float) -> tuple[str, str]:
        """Title and subtitle, elided to ``width``; computed once per pair of fonts."""
        if self._elided is not None and self._elided[0] == font_key:
            return self._elided[1], self._elided[2]
        a = self.attrs
        title = a.get("label", self.unit)
        sub = a.get("summary", "")
        shape = format_shape(a.get("shape"))
        if self.is_block and shape:
            sub = f"{sub} → {shape}" if sub else shape
        title = title_metrics.elidedText(title, Qt.TextElideMode.ElideMiddle, width)
        sub = sub_metrics.elidedText(sub, Qt.TextElideMode.ElideRight, width)
        self._elided = (font_key, title, sub)
        return title, sub


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
        scene: GraphScene = self.scene()  # type: ignore[assignment]
        theme = scene.theme_name if scene is not None else "light"
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

    def __init__(self, path: str, label: str, rect: tuple[float, float, float, float]) -> None:
        super().__init__()
        self.path = path
        self.label = label
        x, y, w, h = rect
        self._rect = QRectF(0, 0, w, h)
        self.setPos(x, y)
        self.setZValue(-1 - path.count("."))
        self.setToolTip(f"{label}\ndouble-click to close")

    def type(self) -> int:
        return FRAME_TYPE

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        scene: GraphScene = self.scene()  # type: ignore[assignment]
        theme = scene.theme_name if scene is not None else "light"
        pen = QPen(themes.graph_color("frame_border", theme), 1.0)
        pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(themes.graph_color("frame_fill", theme))
        painter.drawRoundedRect(self._rect, 10, 10)
        if _lod(painter) >= LOD_TEXT:
            font, fm = _font(painter.font(), 8.0)
            painter.setFont(font)
            painter.setPen(QColor(themes.graph_color("frame_text", theme)))
            text = fm.elidedText(self.label, Qt.TextElideMode.ElideMiddle, self._rect.width() - 16)
            painter.drawText(QRectF(8, 2, self._rect.width() - 16, 16),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
