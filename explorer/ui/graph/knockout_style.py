"""How the graph draws a knocked-out part (one place, so the nodes, edges, glyphs and the
legend's "knocked out" entry look the same): a dimmed fill with a strike line across, a
dimmed dashed edge, a ✕ on a cut shortcut, and a small badge ("c5 off", "1 knockout")
in the theme's knockout colour."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen

from explorer.ui import theme as themes

DIM = 0.4  # how much of a knocked-out fill or edge is left (the rest is the background)
CUT_LEFT = 0.65  # how much of a cut shortcut's line is left (its ✕ says it is off)
CROSS = 4.5  # half the size of the ✕ on a cut edge or glyph part
BADGE_H = 13.0
BADGE_PAD = 5.0
BADGE_POINT = 7.0


def knockout_color(theme: str) -> QColor:
    return themes.graph_color("knockout", theme)


def dimmed(color: QColor, theme: str, left: float = DIM) -> QColor:
    """``color`` faded towards the background (``left`` of it stays): what is left of a
    switched-off part."""
    bg = themes.graph_color("background", theme)
    out = QColor.fromRgbF(bg.redF() + (color.redF() - bg.redF()) * left,
                          bg.greenF() + (color.greenF() - bg.greenF()) * left,
                          bg.blueF() + (color.blueF() - bg.blueF()) * left)
    out.setAlphaF(color.alphaF())
    return out


def dimmed_pen(pen: QPen, theme: str, left: float = DIM) -> QPen:
    """A knocked-out edge's or glyph line's pen: dimmed and dashed. A cut shortcut keeps
    more of its colour (``CUT_LEFT``): the path is there, cut by its ✕."""
    out = QPen(pen)
    out.setColor(dimmed(pen.color(), theme, left))
    out.setStyle(Qt.PenStyle.CustomDashLine)
    out.setDashPattern([2.0, 2.5])
    return out


def paint_strike(painter: QPainter, rect: QRectF, theme: str) -> None:
    """The strike line across a knocked-out node: corner to corner, a little beyond."""
    pen = QPen(knockout_color(theme), 2.2)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.drawLine(QPointF(rect.left() - 3, rect.bottom() - rect.height() * 0.2),
                     QPointF(rect.right() + 3, rect.top() + rect.height() * 0.2))


def paint_cross(painter: QPainter, at: QPointF, theme: str, size: float = CROSS) -> None:
    """A ✕ at ``at``, on a disc of the background so it reads over any line."""
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(themes.graph_color("background", theme))
    painter.drawEllipse(at, size + 1.5, size + 1.5)
    pen = QPen(knockout_color(theme), 2.0)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.drawLine(at + QPointF(-size, -size), at + QPointF(size, size))
    painter.drawLine(at + QPointF(-size, size), at + QPointF(size, -size))


def cross_rect(at: QPointF, size: float = CROSS) -> QRectF:
    """What :func:`paint_cross` covers."""
    r = size + 3.0
    return QRectF(at.x() - r, at.y() - r, 2 * r, 2 * r)


def badge_font(base: QFont | None = None) -> QFont:
    font = QFont(base) if base is not None else QFont()
    font.setPointSizeF(BADGE_POINT)
    font.setBold(True)
    return font


def badge_rect(text: str, left: float, top: float) -> QRectF:
    """The pill a badge with ``text`` fills, its top-left corner at (left, top)."""
    width = QFontMetricsF(badge_font()).horizontalAdvance(text) + 2 * BADGE_PAD
    return QRectF(left, top, width, BADGE_H)


def paint_badge(painter: QPainter, rect: QRectF, text: str, theme: str) -> None:
    """A knockout badge: ``text`` in a pill of the knockout colour."""
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(knockout_color(theme))
    painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
    painter.setFont(badge_font(painter.font()))
    painter.setPen(themes.graph_color("knockout_text", theme))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
