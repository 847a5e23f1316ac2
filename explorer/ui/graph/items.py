"""Scene items of the architecture graph: nodes and frames around open blocks (edges live
in graph_edges, how text is written in graph_text; both are re-exported here).

Items return exact bounding rects, cache what they can and draw less when zoomed out
(Qt's 40,000-chip demo switches detail on the level of detail the same way).
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from explorer.graph.model_graph import format_shape
from explorer.ui import theme as themes
from explorer.ui.graph import knockout_style
from explorer.ui.graph.edges import EDGE_TYPE, EdgeItem  # noqa: F401 - re-exported
from explorer.ui.graph.glyphs import (  # noqa: F401 - glyph names are part of this module's API
    GLYPH_BRANCHES,
    GLYPH_DENSE,
    GLYPH_DENSE_INPUT,
    GLYPH_PROJECTION,
    GLYPH_SKIP,
    GLYPH_WIDTH,
    Glyph,
    glyph_kind,
    glyph_pens,
    paint_glyph,
)
from explorer.ui.graph.text import (  # noqa: F401 - the LOD constants are part of this module's API
    LOD_DETAIL,
    LOD_EDGE_LABEL,
    LOD_TEXT,
    MIN_LABEL_BOX_PX,
    SHORT_NAME_FLOOR_PX,
    SHORT_NAME_MIN_PX,
    elide_name,
    fit_name,
    short_name_pixels,
)
from explorer.ui.graph.text import font as _font
from explorer.ui.graph.text import lod as _lod
from explorer.ui.graph.text import pixel_font as _pixel_font


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

FRAME_TITLE_H = 16.0  # height of one frame title row
FRAME_INSET = 3.0  # how far a nested frame sharing its parent's top steps in

NODE_TYPE = QGraphicsItem.UserType + 1
FRAME_TYPE = QGraphicsItem.UserType + 3


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
        self.tint: QColor | None = None  # a metric overlay's fill (ui/graph/overlay.py)
        self._tint_note = ""
        # The session's knockouts (explorer.explain.knockout_view.ViewMarks, set by the scene):
        self.knocked_out = False  # every layer drawn here is switched off: struck through
        self.knockout_badge = ""  # "c5 off", "group 2 off", "1 knockout" (a closed block)
        self.glyph_off: frozenset = frozenset()  # glyph parts crossed out: "shortcut", a branch
        self.knockout_notes: tuple[str, ...] = ()  # those knockouts in words, for the tooltip
        self._elided: tuple[str, str, str, str] | None = None  # (fonts' key, title, subtitle, extra)
        self._short: dict[tuple[int, int], tuple[int, str]] = {}  # per zoom step: (font pixels, short name)
        kind = glyph_kind(attrs)
        self.glyph = Glyph(kind, attrs, self._rect) if kind else None
        self._bounds = self._make_bounds()
        self.setToolTip(self._tooltip())

    def type(self) -> int:
        return NODE_TYPE

    def _tooltip(self) -> str:
        a = self.attrs
        lines = [a.get("title") or a.get("module_path") or a.get("label", ""), a.get("summary", "")]
        if a.get("shape"):
            lines.append("output " + format_shape(a["shape"]))
        if a.get("unit") != "node":
            lines.append(f"{len(a.get('members', []))} layers · double-click to open")
        if self.knocked_out or self.knockout_badge:
            lines.append("switched off (knockout): " if self.knocked_out else "knocked out: ")
            lines[-1] += "; ".join(self.knockout_notes) or self.knockout_badge
        lines.append(self._tint_note)
        return "\n".join(line for line in lines if line)

    def set_tint(self, color: QColor | None, note: str = "") -> None:
        """Fill with ``color`` instead of the category colour (None: back to it); ``note``
        (the metric's value) ends the tooltip."""
        self.tint = color
        self._tint_note = note
        self.setToolTip(self._tooltip())
        self.update()

    def set_knockout(self, struck: bool = False, badge: str = "", glyph_off: frozenset = frozenset(),
                     notes: tuple[str, ...] = ()) -> bool:
        """Draw this unit as the session's knockouts leave it: ``struck`` through (dimmed,
        a strike line), with a ``badge``, its glyph's ``glyph_off`` parts crossed out;
        ``notes`` (the knockouts in words) go into the tooltip. True when anything changed
        (the caller redraws)."""
        state = (struck, badge, frozenset(glyph_off), tuple(notes))
        if state == (self.knocked_out, self.knockout_badge, self.glyph_off, self.knockout_notes):
            return False
        self.prepareGeometryChange()
        self.knocked_out, self.knockout_badge, self.glyph_off, self.knockout_notes = state
        self._bounds = self._make_bounds()
        self.setToolTip(self._tooltip())
        return True

    def badge_rect(self) -> QRectF:
        """Where the knockout badge sits: over the top-left corner (empty without one)."""
        if not self.knockout_badge:
            return QRectF()
        return knockout_style.badge_rect(self.knockout_badge, 6.0, -knockout_style.BADGE_H / 2 - 1)

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
            for part in self.glyph_off:
                if part in self.glyph.anchors:
                    out = out.united(knockout_style.cross_rect(self.glyph.anchors[part]))
        if self.knocked_out:  # the strike line reaches beyond the box
            out = out.united(self._rect.adjusted(-5, 0, 5, 0))
        if self.knockout_badge:
            out = out.united(self.badge_rect().adjusted(-1, -1, 1, 1))
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

    def fill_color(self, theme: str) -> QColor:
        """The node's fill: its category's (or block type's) colour in ``theme``.

        The one place a node's colour is chosen; anything that recolours nodes does it here.
        """
        if self.tint is not None:  # a metric overlay's colour (ui/graph/overlay.py)
            return self.tint
        a = self.attrs
        return themes.category_color(a.get("category", "other"), theme, a.get("block_type") or None)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        theme = scene_theme(self)
        self._paint_node(painter, theme)
        if self.knocked_out:  # over the text, as a strike-through is
            knockout_style.paint_strike(painter, self._rect, theme)
        if self.knockout_badge:
            knockout_style.paint_badge(painter, self.badge_rect(), self.knockout_badge, theme)

    def _paint_node(self, painter: QPainter, theme: str) -> None:
        a = self.attrs
        fill = self.fill_color(theme)
        border = themes.graph_color("aux_border" if a.get("aux") else "node_border", theme)
        if self.knocked_out:  # what is left of a switched-off part: faded
            fill, border = knockout_style.dimmed(fill, theme), knockout_style.dimmed(border, theme)
        width, dashed = 1.0, bool(a.get("aux"))
        if self.isSelected():
            border, width = themes.graph_color("selected", theme), 3.0
        elif self.highlighted:
            border, width = themes.graph_color("highlight", theme), 3.0
        elif self.search_hit:
            border, width = themes.graph_color("search_hit", theme), 3.0
        elif self.knockout_badge:
            # Something inside is switched off: a red dashed outline reads at any zoom,
            # where the badge's words are too small to (a closed block at Fit).
            border, width, dashed = knockout_style.knockout_color(theme), 2.5, True
        lod = _lod(painter)
        radius = 8.0 if self.is_block else 5.0
        if a.get("unit") == "fold":  # a stack of cards: several identical blocks
            painter.setPen(QPen(border, 1.0))
            painter.setBrush(QBrush(fill.darker(115)))
            painter.drawRoundedRect(self._rect.translated(6, 6), radius, radius)
            painter.drawRoundedRect(self._rect.translated(3, 3), radius, radius)
        pen = QPen(border, width)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(self._rect, radius, radius)
        if self.glyph is not None:
            self._paint_glyph(painter, theme, lod)
        if lod * self._rect.height() < MIN_LABEL_BOX_PX:
            return
        inner = self.text_rect()
        if lod < LOD_DETAIL:
            self._paint_short_name(painter, theme, lod, inner)
            return
        text_color = themes.graph_color("node_text", theme)
        sub_color = themes.graph_color("node_subtext", theme)
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

    def short_name(self) -> str:
        """What a node writes when there is room for one line only: its label."""
        return self.attrs.get("label", self.unit)

    def _paint_short_name(self, painter: QPainter, theme: str, lod: float, inner: QRectF) -> None:
        pixels = short_name_pixels(lod, self._rect.height())
        # Keyed by the smallest font allowed too: below a box-bound zoom the size stays the
        # same while the room to shrink grows (a name cut at one zoom stayed cut at Fit).
        key = (pixels, int(SHORT_NAME_FLOOR_PX / max(lod, 1e-3)))
        found = self._short.get(key)
        if found is None:
            found = self._short[key] = self._fit_short_name(painter.font(), pixels, lod, inner.width())
        size, text = found
        painter.setFont(_pixel_font(painter.font(), size)[0])
        painter.setPen(themes.graph_color("node_text", theme))
        painter.drawText(QRectF(inner.left(), 0, inner.width(), self._rect.height()),
                         Qt.AlignmentFlag.AlignCenter, text)

    def text_rect(self) -> QRectF:
        """Where the node writes, in item coordinates: its box less a margin and the glyph."""
        inner = self._rect.adjusted(8, 3, -8, -3)
        if self.glyph is not None and self.glyph.kind not in (GLYPH_SKIP, GLYPH_PROJECTION):
            inner.setLeft(GLYPH_WIDTH + 6)  # the glyph sits on the left
        return inner

    def shown_name(self, base: QFont, lod: float) -> tuple[float, str] | None:
        """What the node writes at zoom ``lod`` when it writes its short name only: (font
        height on screen in pixels, text); None when it writes nothing (too small a box)
        or its title and subtitles (from LOD_DETAIL up)."""
        if lod * self._rect.height() < MIN_LABEL_BOX_PX or lod >= LOD_DETAIL:
            return None
        pixels = short_name_pixels(lod, self._rect.height())
        size, text = self._fit_short_name(base, pixels, lod, self.text_rect().width())
        return size * lod, text

    def _fit_short_name(self, base: QFont, pixels: int, lod: float, width: float) -> tuple[int, str]:
        """(font pixel size, text): a name too wide for the box shrinks to fit as long as
        it stays readable on screen (SHORT_NAME_FLOOR_PX), and only then loses letters,
        keeping the tail that tells it from its neighbours (``elide_name``)."""
        return fit_name(self.short_name(), base, pixels, lod, width)

    def _paint_glyph(self, painter: QPainter, theme: str, lod: float) -> None:
        paint_glyph(painter, self.glyph, theme, texts=lod >= LOD_TEXT, off=self.glyph_off)

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
        title = elide_name(title, title_metrics, width)  # its distinguishing tail kept
        sub = sub_metrics.elidedText(sub, Qt.TextElideMode.ElideRight, width)
        extra = sub_metrics.elidedText(extra, Qt.TextElideMode.ElideRight, width)
        self._elided = (font_key, title, sub, extra)
        return title, sub, extra


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
