"""Glyphs of closed blocks: the structure a block hides (a skip arc, parallel branches, a
dense comb), drawn small on the block's node so the famous idea stays visible."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen

from explorer.ui import theme as themes
from explorer.ui.graph import knockout_style
from explorer.ui.graph.text import font as text_font

# A closed block hides the structure the model is famous for; its glyph shows it anyway.
# Glyph kinds by the view's ``pattern`` attribute (see explorer.graph.collapse._block_pattern).
GLYPH_SKIP = "skip"  # identity shortcut: an arc beside the block joining at a "+"
GLYPH_PROJECTION = "projection"  # the same arc dashed, through a small "1×1" box
GLYPH_BRANCHES = "branches"  # Inception: N parallel branches fanning out into a concat
GLYPH_DENSE = "dense"  # dense block: a comb of layers, each linked to every later one
GLYPH_DENSE_INPUT = "dense_input"  # one dense layer: all earlier maps into its concat

GLYPH_WIDTH = 34.0  # room kept on a block's left for the branch and dense glyphs
SKIP_REACH = 9.0  # how far the skip arc bulges beyond the block's right side (frames pad by 14)
PROJ_BOX = (20.0, 12.0)  # the "1×1" box drawn on a projection shortcut
DENSE_TEETH = 5  # layers drawn in the comb at most (the count is written beside it)

_GLYPH_COLOR_KEYS = {GLYPH_SKIP: "glyph_skip", GLYPH_PROJECTION: "glyph_skip",
                     GLYPH_BRANCHES: "glyph_branch", GLYPH_DENSE: "glyph_dense",
                     GLYPH_DENSE_INPUT: "glyph_dense"}
# What each glyph stands for, as the legend names it (in the legend's order).
GLYPH_NAMES = {GLYPH_SKIP: "identity shortcut", GLYPH_PROJECTION: "1×1 conv shortcut",
               GLYPH_BRANCHES: "parallel branches", GLYPH_DENSE: "dense block links",
               GLYPH_DENSE_INPUT: "dense layer inputs"}
_GLYPH_PENS: dict[tuple[str, str], tuple[QPen, QPen, QColor, QColor]] = {}


def glyph_kind(attrs: dict[str, Any]) -> str:
    """Which glyph a unit gets from its graph data; "" for none (layers, folds, plain blocks)."""
    if attrs.get("unit") != "block":
        return ""  # a folded run keeps its stack-of-cards look
    pattern = attrs.get("pattern")
    if pattern == "residual":
        return GLYPH_PROJECTION if attrs.get("shortcut") == "projection" else GLYPH_SKIP
    if pattern == "branches" and int(attrs.get("branches") or 0) >= 2:
        return GLYPH_BRANCHES
    if pattern == "dense" and int(attrs.get("dense_layers") or 0) >= 1:
        return GLYPH_DENSE
    if pattern == "dense_layer" and int(attrs.get("dense_inputs") or 0) >= 1:
        return GLYPH_DENSE_INPUT
    return ""


def glyph_pens(kind: str, theme: str) -> tuple[QPen, QPen, QColor, QColor]:
    """(line pen, mark outline pen, line colour, mark fill) of a glyph kind, made once per theme."""
    found = _GLYPH_PENS.get((kind, theme))
    if found is None:
        col = themes.graph_color(_GLYPH_COLOR_KEYS[kind], theme)
        fill = themes.graph_color("glyph_fill", theme)
        line = QPen(col, 2.0 if kind in (GLYPH_SKIP, GLYPH_PROJECTION) else 1.3)
        line.setCapStyle(Qt.PenCapStyle.RoundCap)
        if kind == GLYPH_PROJECTION:
            line.setStyle(Qt.PenStyle.DashLine)
        mark = QPen(col, 1.4)
        found = _GLYPH_PENS[(kind, theme)] = (line, mark, col, fill)
    return found


def paint_glyph(painter: QPainter, glyph: Glyph, theme: str, texts: bool = True,
                off: frozenset = frozenset()) -> None:
    """Draw ``glyph`` in item coordinates with its kind's pens (the graph's nodes and the
    legend both draw through here); ``texts``: write its small labels too ("1×1", "×6");
    ``off``: the parts knocked out (``"shortcut"``: the skip arc, dimmed and dashed; a
    branch's position), each crossed with a ✕ (see ``Glyph.anchors``)."""
    line, mark, col, fill = glyph_pens(glyph.kind, theme)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(knockout_style.dimmed_pen(line, theme, knockout_style.CUT_LEFT) if "shortcut" in off
                   else line)
    painter.drawPath(glyph.lines)
    painter.setPen(mark)
    painter.setBrush(fill)
    painter.drawPath(glyph.marks)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPath(glyph.ticks)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(col)
    painter.drawPath(glyph.solid)
    if glyph.texts and texts:
        painter.setFont(text_font(painter.font(), 6.5, True)[0])
        painter.setPen(col)
        for rect, text in glyph.texts:
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    for part in off:
        if part in glyph.anchors:
            knockout_style.paint_cross(painter, glyph.anchors[part], theme)


class Glyph:
    """A block's glyph in item coordinates: stroked lines, filled marks and tiny texts.

    Built once per item (paths are geometry, independent of theme and zoom).
    """

    def __init__(self, kind: str, attrs: dict[str, Any], rect: QRectF) -> None:
        self.kind = kind
        self.lines = QPainterPath()  # stroked with the glyph pen
        self.marks = QPainterPath()  # filled with the glyph fill, outlined with the glyph colour
        self.solid = QPainterPath()  # filled with the glyph colour
        self.ticks = QPainterPath()  # stroked over the marks (the "+" of a sum)
        self.texts: list[tuple[QRectF, str]] = []  # small labels, drawn only when zoomed in
        # where a knocked-out part is crossed: "shortcut" (the skip arc), a branch's position
        self.anchors: dict[str | int, QPointF] = {}
        w, h = rect.width(), rect.height()
        if kind in (GLYPH_SKIP, GLYPH_PROJECTION):
            self._skip(w, h, kind == GLYPH_PROJECTION)
        elif kind == GLYPH_BRANCHES:
            self._branches(int(attrs["branches"]), h)
        elif kind == GLYPH_DENSE:
            self._dense(int(attrs["dense_layers"]), h)
        elif kind == GLYPH_DENSE_INPUT:
            self._fan_in(int(attrs["dense_inputs"]), h)

    def bounds(self) -> QRectF:
        out = self.lines.boundingRect().united(self.marks.boundingRect()).united(self.solid.boundingRect())
        for r, _ in self.texts:
            out = out.united(r)
        return out.adjusted(-2, -2, 2, 2)

    def path(self) -> QPainterPath:
        """Everything the glyph draws, as one path (for tests and hit areas)."""
        out = QPainterPath(self.lines)
        out.addPath(self.marks)
        out.addPath(self.solid)
        out.addPath(self.ticks)
        return out

    def _skip(self, w: float, h: float, projection: bool) -> None:
        # The shortcut leaves where the block's input enters (its top edge) and meets the
        # block's output in a sum at its bottom edge, passing beside everything it skips.
        x0 = w - 24.0
        reach = w + SKIP_REACH
        ctrl = x0 + (reach - x0) * 4 / 3  # a cubic's mid point lies 3/4 of the way to its controls
        self.lines.moveTo(x0, 0)
        self.lines.cubicTo(QPointF(ctrl, 0), QPointF(ctrl, h), QPointF(x0, h - 5.5))
        self.marks.addEllipse(QPointF(x0, h), 5.5, 5.5)
        self.ticks.moveTo(x0 - 3.2, h)
        self.ticks.lineTo(x0 + 3.2, h)
        self.ticks.moveTo(x0, h - 3.2)
        self.ticks.lineTo(x0, h + 3.2)
        if projection:
            bw, bh = PROJ_BOX
            # centred a little inside the arc's peak so the box stays within a stage's frame
            box = QRectF(reach - 5.0 - bw / 2, h / 2 - bh / 2, bw, bh)
            self.marks.addRoundedRect(box, 3, 3)
            self.texts.append((box, "1×1"))
        # a cut shortcut's ✕: the arc's middle (above the "1×1" box, which it would hide)
        self.anchors["shortcut"] = self.lines.pointAtPercent(0.22 if projection else 0.5)

    def _branches(self, n: int, h: float) -> None:
        left, right = 7.0, 7.0 + GLYPH_WIDTH - 6.0
        cx = (left + right) / 2
        top, bottom = 7.0, h - 9.0
        shown = min(n, 6)
        step = (right - left) / max(shown - 1, 1)
        bar_top, bar_bottom = top + 10.0, bottom - 9.0
        self.solid.addEllipse(QPointF(cx, top), 2.2, 2.2)
        for i in range(shown):
            x = left + i * step
            self.lines.moveTo(cx, top)
            self.lines.lineTo(x, bar_top)
            self.solid.addRoundedRect(QRectF(x - 2.0, bar_top, 4.0, bar_bottom - bar_top), 1.5, 1.5)
            self.anchors[i] = QPointF(x, (bar_top + bar_bottom) / 2)
            self.lines.moveTo(x, bar_bottom)
            self.lines.lineTo(cx, bottom)
        self.marks.addRoundedRect(QRectF(left - 1, bottom, right - left + 2, 4.5), 2, 2)

    def _dense(self, layers: int, h: float) -> None:
        left, right = 8.0, 8.0 + GLYPH_WIDTH - 8.0
        shown = min(layers, DENSE_TEETH)
        step = (right - left) / max(shown - 1, 1)
        base = h - 15.0
        xs = [left + i * step for i in range(shown)]
        for i, xa in enumerate(xs):  # every layer feeds every later one
            for xb in xs[i + 1:]:
                lift = 3.0 + (xb - xa) * 0.55
                mid = (xa + xb) / 2
                self.lines.moveTo(xa, base)
                self.lines.quadTo(QPointF(mid, base - 2 * lift), QPointF(xb, base))
        for x in xs:
            self.solid.addEllipse(QPointF(x, base), 2.3, 2.3)
        self.texts.append((QRectF(2.0, base + 3.0, GLYPH_WIDTH + 2.0, 11.0), f"×{layers}"))

    def _fan_in(self, n: int, h: float) -> None:
        left, right = 7.0, 7.0 + GLYPH_WIDTH - 6.0
        cx = (left + right) / 2
        shown = min(n, 6)
        step = (right - left) / max(shown - 1, 1)
        top, bottom = 8.0, h - 12.0
        for i in range(shown):
            x = left + i * step
            self.solid.addEllipse(QPointF(x, top), 1.8, 1.8)
            self.lines.moveTo(x, top)
            self.lines.lineTo(cx, bottom)
        self.marks.addRoundedRect(QRectF(cx - 9, bottom, 18, 4.5), 2, 2)
