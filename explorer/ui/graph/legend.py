"""The graph's side column: the minimap above a collapsible legend (category colours and
edge styles present in the current view). It sits beside the graph view, never over it."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QFrame, QScrollArea, QToolButton, QVBoxLayout, QWidget

from explorer.ui import theme as themes
from explorer.ui.graph.minimap import GraphMinimap
from explorer.ui.graph.view import GraphView

_CATEGORY_NAMES = {"depthwise": "depthwise conv", "norm": "normalisation", "concat": "concat",
                   "add": "add (residual)", "block": "block"}


class GraphLegend(QWidget):
    """Category colours and edge styles present in the current view."""

    ROW = 16

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = "light"
        self.categories: list[tuple[str, str | None]] = []
        self.edge_kinds: list[str] = []
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)

    def set_content(self, categories: list[tuple[str, str | None]], edge_kinds: list[str]) -> None:
        self.categories = categories
        self.edge_kinds = edge_kinds
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
        width = min(width, GraphSidebar.WIDTH - 4)  # names elide rather than widen the column
        rows = len(self.categories) + len(self.edge_kinds)
        return QSize(width, rows * self.ROW + 12)

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
        painter.end()


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
