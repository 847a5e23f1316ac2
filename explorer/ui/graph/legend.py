"""The graph's side column: the minimap above a collapsible legend (category colours, edge
styles and block glyphs present in the current view). It sits beside the graph view, never
over it."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QFrame, QScrollArea, QToolButton, QVBoxLayout, QWidget

from explorer.ui import theme as themes
from explorer.ui.graph import knockout_style
from explorer.ui.graph.glyphs import (
    GLYPH_BRANCHES,
    GLYPH_DENSE,
    GLYPH_DENSE_INPUT,
    GLYPH_NAMES,
    GLYPH_PROJECTION,
    GLYPH_SKIP,
    GLYPH_WIDTH,
    Glyph,
    paint_glyph,
)
from explorer.ui.graph.minimap import GraphMinimap
from explorer.ui.graph.view import GraphView

_CATEGORY_NAMES = {"depthwise": "depthwise conv", "norm": "normalisation", "concat": "concat",
                   "add": "add (residual)", "block": "block"}
# The small block a glyph row draws: (width, height, the attributes its glyph reads, the
# block type whose colour it is filled with).
_SAMPLE_BLOCKS = {
    GLYPH_SKIP: (44.0, 24.0, {}, "basic_block"),
    GLYPH_PROJECTION: (44.0, 24.0, {}, "basic_block"),
    GLYPH_BRANCHES: (GLYPH_WIDTH + 8, 40.0, {"branches": 4}, "inception"),
    GLYPH_DENSE: (GLYPH_WIDTH + 8, 40.0, {"dense_layers": 4}, "dense_block"),
    GLYPH_DENSE_INPUT: (GLYPH_WIDTH + 8, 40.0, {"dense_inputs": 4}, "dense_layer"),
}


class GraphLegend(QWidget):
    """Category colours, edge styles and block glyphs present in the current view."""

    ROW = 16
    GLYPH_ROW = 36  # a glyph row: a small block drawn with its glyph, its name on two lines
    GLYPH_SWATCH = QSize(48, 32)  # room for that small block and its glyph
    KNOCKOUT_ROW = 22  # "knocked out": a small struck-through node and a cut edge's ✕

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = "light"
        self.categories: list[tuple[str, str | None]] = []
        self.edge_kinds: list[str] = []
        self.glyph_kinds: list[str] = []
        self.knocked_out = False  # the "knocked out" entry: shown while the view draws knockouts
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)

    def set_knocked_out(self, shown: bool) -> None:
        """Show (or hide) the "knocked out" entry, drawn as the graph draws a knockout."""
        if shown == self.knocked_out:
            return
        self.knocked_out = shown
        self.resize(self.sizeHint())
        self.update()

    def knockout_rect(self) -> QRectF:
        """Where the "knocked out" entry draws its small struck-through node (empty when hidden)."""
        if not self.knocked_out:
            return QRectF()
        y = 6 + (len(self.categories) + len(self.edge_kinds)) * self.ROW
        y += len(self.glyph_kinds) * self.GLYPH_ROW
        return QRectF(9, y + 4, 22, self.KNOCKOUT_ROW - 8)

    def set_content(self, categories: list[tuple[str, str | None]], edge_kinds: list[str],
                    glyph_kinds: list[str] = ()) -> None:
        """Show these categories (with block types), edge kinds and glyph kinds (see
        ``glyphs.GLYPH_NAMES``; listed in that order whatever the order given)."""
        self.categories = categories
        self.edge_kinds = edge_kinds
        self.glyph_kinds = [k for k in GLYPH_NAMES if k in set(glyph_kinds)]
        self.resize(self.sizeHint())
        self.update()

    @staticmethod
    def _name(category: str, block_type: str | None) -> str:
        if block_type:
            return block_type.replace("_", " ")
        return _CATEGORY_NAMES.get(category, category)

    def sizeHint(self) -> QSize:
        fm = QFontMetrics(self._font())
        names = [self._name(c, b) for c, b in self.categories] + [f"{k} edge" for k in self.edge_kinds]
        width = max((fm.horizontalAdvance(n) for n in names), default=40) + 46
        if self.glyph_kinds:  # their names wrap onto two lines beside the swatch
            width = max(width, GraphSidebar.WIDTH)
        width = min(width, GraphSidebar.WIDTH - 4)  # names elide rather than widen the column
        rows = len(self.categories) + len(self.edge_kinds)
        if self.knocked_out:
            width = max(width, min(fm.horizontalAdvance("knocked out") + 72, GraphSidebar.WIDTH - 4))
        return QSize(width, rows * self.ROW + len(self.glyph_kinds) * self.GLYPH_ROW + 12
                     + (self.KNOCKOUT_ROW if self.knocked_out else 0))

    def glyph_rect(self, kind: str) -> QRectF:
        """Where the glyph row of ``kind`` draws its small block (empty when not shown)."""
        if kind not in self.glyph_kinds:
            return QRectF()
        y = 6 + (len(self.categories) + len(self.edge_kinds)) * self.ROW
        y += self.glyph_kinds.index(kind) * self.GLYPH_ROW
        swatch = self.GLYPH_SWATCH
        return QRectF(8, y + (self.GLYPH_ROW - swatch.height()) / 2, swatch.width(), swatch.height())

    def _paint_glyph_sample(self, painter: QPainter, kind: str, box: QRectF) -> None:
        """A small block with the glyph of ``kind``, drawn as a node draws it, fitted to ``box``."""
        block = QRectF(0, 0, *_SAMPLE_BLOCKS[kind][:2])
        glyph = Glyph(kind, _SAMPLE_BLOCKS[kind][2], block)
        extent = block.united(glyph.bounds())
        scale = min(1.0, box.width() / extent.width(), box.height() / extent.height())
        painter.save()
        painter.translate(box.center())
        painter.scale(scale, scale)
        painter.translate(-extent.center())
        painter.setPen(QPen(themes.graph_color("node_border", self.theme), 1))
        painter.setBrush(themes.category_color("block", self.theme, _SAMPLE_BLOCKS[kind][3]))
        painter.drawRoundedRect(block, 8, 8)  # a closed block's corners (graph_items)
        paint_glyph(painter, glyph, self.theme)
        painter.restore()

    def _font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(8.0)
        return font

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        bg = themes.graph_color("background", self.theme)
        bg.setAlpha(225)
        painter.setPen(QPen(themes.graph_color("frame_border", self.theme), 1))
        painter.setBrush(bg)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        painter.setFont(self._font())
        y = 6
        text_color = themes.graph_color("node_text", self.theme)
        for category, block_type in self.categories:
            painter.setPen(QPen(themes.graph_color("node_border", self.theme), 1))
            painter.setBrush(themes.category_color(category, self.theme, block_type))
            painter.drawRoundedRect(QRectF(8, y + 2, 24, self.ROW - 4), 3, 3)
            painter.setPen(text_color)
            name = QFontMetrics(painter.font()).elidedText(
                self._name(category, block_type), Qt.TextElideMode.ElideRight, self.width() - 42)
            painter.drawText(QRectF(38, y, self.width() - 40, self.ROW),
                             Qt.AlignmentFlag.AlignVCenter, name)
            y += self.ROW
        for kind in self.edge_kinds:
            style = themes.edge_style(kind, self.theme)
            pen = QPen(themes.color(style["color"]), float(style["width"]))
            pen.setStyle({"dash": Qt.PenStyle.DashLine, "dot": Qt.PenStyle.DotLine}.get(
                style.get("style"), Qt.PenStyle.SolidLine))
            painter.setPen(pen)
            painter.drawLine(8, y + self.ROW // 2, 32, y + self.ROW // 2)
            painter.setPen(text_color)
            painter.drawText(QRectF(38, y, self.width() - 40, self.ROW),
                             Qt.AlignmentFlag.AlignVCenter, f"{kind} edge")
            y += self.ROW
        for kind in self.glyph_kinds:
            box = self.glyph_rect(kind)
            self._paint_glyph_sample(painter, kind, box)
            painter.setFont(self._font())
            painter.setPen(text_color)
            left = box.right() + 6
            painter.drawText(QRectF(left, y, self.width() - left - 2, self.GLYPH_ROW),
                             Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap, GLYPH_NAMES[kind])
            y += self.GLYPH_ROW
        if self.knocked_out:
            self._paint_knocked_out(painter, self.knockout_rect())
            painter.setFont(self._font())
            painter.setPen(text_color)
            painter.drawText(QRectF(58, y, self.width() - 60, self.KNOCKOUT_ROW),
                             Qt.AlignmentFlag.AlignVCenter, "knocked out")
        painter.end()

    def _paint_knocked_out(self, painter: QPainter, box: QRectF) -> None:
        """A small node as the graph draws a knocked-out one (dimmed, struck through) and,
        beside it, a cut edge's dimmed dashed line and ✕."""
        fill = knockout_style.dimmed(themes.category_color("conv", self.theme), self.theme)
        painter.setPen(QPen(knockout_style.dimmed(themes.graph_color("node_border", self.theme),
                                                  self.theme), 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(box, 3, 3)
        knockout_style.paint_strike(painter, box, self.theme)
        y = box.center().y()
        painter.setPen(knockout_style.dimmed_pen(QPen(themes.color(themes.edge_style(
            "residual", self.theme)["color"]), 2.0), self.theme, knockout_style.CUT_LEFT))
        painter.drawLine(QPointF(box.right() + 6, y), QPointF(box.right() + 24, y))
        knockout_style.paint_cross(painter, QPointF(box.right() + 15, y), self.theme, 3.5)


class GraphSidebar(QWidget):
    """The minimap of ``view`` above the legend; the legend folds away under its header."""

    WIDTH = 150

    def __init__(self, view: GraphView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.minimap = GraphMinimap(view, self)
        self.legend = GraphLegend(self)
        self.legend_button = QToolButton(self)
        self.legend_button.setText("Legend")
        self.legend_button.setToolTip("Show or hide the colour legend")
        self.legend_button.setCheckable(True)
        self.legend_button.setChecked(True)
        self.legend_button.setAutoRaise(True)
        self.legend_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.legend_button.setArrowType(Qt.ArrowType.DownArrow)
        self.legend_button.toggled.connect(self.show_legend)
        self.legend_scroll = QScrollArea(self)
        self.legend_scroll.setWidget(self.legend)
        self.legend_scroll.setWidgetResizable(False)
        self.legend_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.legend_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.minimap, 2)
        layout.addWidget(self.legend_button)
        layout.addWidget(self.legend_scroll, 3)
        self.setFixedWidth(self.WIDTH)

    def show_legend(self, shown: bool) -> None:
        self.legend_button.setChecked(shown)
        self.legend_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.legend_scroll.setVisible(shown)

    def set_theme(self, name: str) -> None:
        self.legend.theme = name
        self.legend.update()
        self.minimap.viewport().update()
