"""Open blocks' names written over them when nothing else in the frame can be read.

At Fit, GoogLeNet with every block open drew about 200 layer boxes a few pixels tall:
too small for the layers' names (``MIN_LABEL_BOX_PX``) and for the frames' 8 pt titles
(``LOD_TEXT``), so the whole graph read as unlabelled bars. A caption names each open
block in a font ``SHORT_NAME_MIN_PX`` tall on screen, on a backing, wherever it fits the
frame; nearer, the layers' own names and the frame's title take over.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from explorer.graph.titles import module_label
from explorer.ui import theme as themes
from explorer.ui.graph.items import FrameItem, scene_theme
from explorer.ui.graph.text import LOD_TEXT, MIN_LABEL_BOX_PX, SHORT_NAME_MIN_PX, lod, pixel_font

CAPTION_TYPE = QGraphicsItem.UserType + 4


class FrameCaption(QGraphicsItem):
    """The name of one open block, above the nodes but never in the way of a click or a
    tooltip (its shape is empty)."""

    def __init__(self, frame: FrameItem, inner_height: float) -> None:
        super().__init__()
        self.path = frame.path
        self.text = module_label(frame.path)  # the tail that tells it apart: "inception4a"
        self.title_row = frame.title_row
        self.inner_height = inner_height  # the smallest layer box inside the frame
        self._rect = QRectF(frame.boundingRect().adjusted(1, 1, -1, -1))
        self.setPos(frame.pos())
        self.setZValue(5)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def type(self) -> int:
        return CAPTION_TYPE

    def boundingRect(self) -> QRectF:
        return self._rect

    def shape(self) -> QPainterPath:
        return QPainterPath()  # clicks, double-clicks and tooltips reach the nodes below

    def caption(self, base: QFont, level: float) -> tuple[QRectF, int, str] | None:
        """(backing rect in item coordinates, font pixel size, text) at zoom ``level``;
        None when the frame's title or the layers' names are readable, or the whole name
        does not fit the frame (a cut "…1" would name nothing: the minimap's stages)."""
        if level >= LOD_TEXT or level * self.inner_height >= MIN_LABEL_BOX_PX:
            return None
        level = max(level, 1e-3)
        pixels = max(1, int(SHORT_NAME_MIN_PX / level))
        metrics = pixel_font(base, pixels)[1]
        pad = 2.0 / level
        r = self._rect
        wide, tall = metrics.horizontalAdvance(self.text), metrics.height()
        top = r.top() + pad + self.title_row * (tall + 2 * pad)  # a nested frame's one row lower
        if wide > r.width() - 4 * pad or top + tall + 2 * pad > r.bottom():
            return None
        return QRectF(r.left() + pad, top, wide + 2 * pad, tall), pixels, self.text

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        found = self.caption(painter.font(), lod(painter))
        if found is None:
            return
        box, pixels, text = found
        theme = scene_theme(self)
        backing = QColor(themes.graph_color("background", theme))
        backing.setAlpha(225)
        painter.setPen(QPen(themes.graph_color("frame_border", theme), 0))
        painter.setBrush(backing)
        painter.drawRoundedRect(box, box.height() / 4, box.height() / 4)
        painter.setFont(pixel_font(painter.font(), pixels)[0])
        painter.setPen(QColor(themes.graph_color("frame_text", theme)))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
