"""The graph's edges: a routed path styled by kind (plain, branch, residual, dense, aux),
with its tensor shape written on it when zoomed in."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from explorer.graph.model_graph import format_shape
from explorer.ui import theme as themes
from explorer.ui.graph import knockout_style
from explorer.ui.graph.text import LOD_EDGE_LABEL, LOD_TEXT
from explorer.ui.graph.text import font as _font
from explorer.ui.graph.text import lod as _lod

EDGE_TYPE = QGraphicsItem.UserType + 2

_PEN_STYLES = {"solid": Qt.PenStyle.SolidLine, "dash": Qt.PenStyle.DashLine,
               "dot": Qt.PenStyle.DotLine}

# Edge pens are made once per (edge kind, theme), not per paint.
_EDGE_PENS: dict[tuple[str, str], tuple[QPen, QColor]] = {}


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


class EdgeItem(QGraphicsItem):
    """A routed edge styled by kind, with the tensor shape written on it when zoomed in."""

    def __init__(self, source: str, target: str, attrs: dict[str, Any],
                 points: list[tuple[float, float]], across: bool = False) -> None:
        super().__init__()
        self.source = source
        self.target = target
        self.attrs = attrs
        self.kind = attrs.get("kind", "plain")
        self._path = self._build_path(points, across)
        self._arrow = self._build_arrow(points, across)
        self._label = format_shape(attrs.get("shape")) if self.kind != "dense" else ""
        mid = self._path.pointAtPercent(0.5) if points else QPointF()
        width = 7.0 * len(self._label) + 10
        # beside a vertical edge; above a horizontal one (left to right), centred on it
        self._label_pos = (QPointF(mid.x() - width / 2 + 5, mid.y() - 5) if across
                           else QPointF(mid.x() + 5, mid.y() + 3))
        self._bounds = self._path.boundingRect().united(self._arrow.boundingRect()).adjusted(-3, -3, 3, 3)
        if self._label:
            self._bounds = self._bounds.united(QRectF(self._label_pos.x(), self._label_pos.y() - 13,
                                                      width, 16))
        self._mid = mid
        self._bounds = self._bounds.united(knockout_style.cross_rect(mid))
        # The session's knockouts (explorer.explain.knockout_view): "" (live), "idle"
        # (leads into or out of a switched-off part: dimmed, dashed) or "cut" (switched
        # off itself, an identity shortcut: dimmed, dashed, a ✕ at its middle).
        self.knockout = ""
        self.setZValue(1 if self.kind != "dense" else 0.5)

    def type(self) -> int:
        return EDGE_TYPE

    def set_knockout(self, state: str) -> bool:
        """Draw as ``state`` ("", "idle" or "cut"); True when it changed (the caller redraws)."""
        if state == self.knockout:
            return False
        self.knockout = state
        self.update()
        return True

    def cross_point(self) -> QPointF:
        """Where a cut edge's ✕ sits: its middle."""
        return QPointF(self._mid)

    @staticmethod
    def _build_path(points: list[tuple[float, float]], across: bool = False) -> QPainterPath:
        """The route as lines and curves; ``across``: the layout runs left to right."""
        path = QPainterPath()
        if not points:
            return path
        path.moveTo(*points[0])
        for (x1, y1), (x2, y2) in zip(points, points[1:]):
            if x1 == x2 or y1 == y2:
                path.lineTo(x2, y2)
            elif across:  # horizontal flow: leave and arrive horizontally
                mx = (x1 + x2) / 2
                path.cubicTo(QPointF(mx, y1), QPointF(mx, y2), QPointF(x2, y2))
            else:  # vertical flow: leave and arrive vertically
                my = (y1 + y2) / 2
                path.cubicTo(QPointF(x1, my), QPointF(x2, my), QPointF(x2, y2))
        return path

    @staticmethod
    def _build_arrow(points: list[tuple[float, float]], across: bool = False) -> QPolygonF:
        if len(points) < 2:
            return QPolygonF()
        (x1, y1), (x2, y2) = points[-2], points[-1]
        if x1 != x2 and y1 != y2:  # the curve arrives along the flow
            if across:
                y1 = y2
            else:
                x1 = x2
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
        theme = _scene_theme(self)
        pen, col = _edge_pen(self.kind, theme)
        if self.knockout:
            pen = knockout_style.dimmed_pen(pen, theme, knockout_style.CUT_LEFT if self.knockout == "cut"
                                            else knockout_style.DIM)
            col = pen.color()
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
        if self.knockout == "cut":
            knockout_style.paint_cross(painter, self._mid, theme)


def _scene_theme(item: QGraphicsItem) -> str:
    """As graph_items.scene_theme, which cannot be imported here (graph_items imports this)."""
    scene = item.scene()
    return getattr(scene, "theme_name", "light") if scene is not None else "light"
