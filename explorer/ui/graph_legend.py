"""The graph's legend: category colours and edge styles present in the current view,
pinned to the top-right corner of the graph view."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QWidget

from explorer.ui import theme as themes
from explorer.ui.graph_scene import GraphScene
from explorer.ui.graph_view import GraphView

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
            painter.drawText(QRectF(38, y, self.width() - 40, self.ROW),
                             Qt.AlignmentFlag.AlignVCenter, self._name(category, block_type))
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


class LegendGraphView(GraphView):
    """The graph view with the legend pinned to its top-right corner."""

    def __init__(self, scene: GraphScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.legend = GraphLegend(self)

    def place_legend(self) -> None:
        hint = self.legend.sizeHint()
        self.legend.setGeometry(self.width() - hint.width() - 10, 10, hint.width(), hint.height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.place_legend()
