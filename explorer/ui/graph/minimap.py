"""The minimap: the whole graph small, with the main view's visible area on it to drag.

A second QGraphicsView on the same scene, so it never holds a copy of the items: it is
fitted to the scene and paints the main view's visible rectangle in its foreground. When
the main view pans, only the strip of the minimap the rectangle left and entered is
repainted (the items there draw from their device cache), so following the viewport stays
a few milliseconds per frame even on the expanded DenseNet-121.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from explorer.ui import theme as themes
from explorer.ui.drops import pass_drops_on
from explorer.ui.graph.view import GraphView


class GraphMinimap(QGraphicsView):
    """Follows ``main``'s viewport; pressing or dragging on it moves ``main`` there."""

    def __init__(self, main: GraphView, parent: QWidget | None = None) -> None:
        super().__init__(main.scene(), parent)
        self.main = main
        self._shown = QRectF()  # the main view's visible scene rect as last drawn
        self.last_dirty = QRect()  # the minimap area the last follow() asked to repaint
        self.setObjectName("graph-minimap")
        self.setInteractive(False)  # no selection or hover here: this only steers
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setRenderHints(QPainter.RenderHint.Antialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("The whole graph: drag the rectangle to move the view")
        pass_drops_on(self)
        main.horizontalScrollBar().valueChanged.connect(self.follow)
        main.verticalScrollBar().valueChanged.connect(self.follow)
        main.zoom_changed.connect(self.follow)
        main.scene().sceneRectChanged.connect(self.refit)

    def sizeHint(self) -> QSize:
        return QSize(160, 200)

    def refit(self, *_args) -> None:
        """Show the whole scene (after a resize or another graph)."""
        rect = self.scene().sceneRect()
        if not rect.isEmpty():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.follow()
        self.viewport().update()

    def follow(self, *_args) -> None:
        """Move the rectangle to where the main view looks now; repaints only around it."""
        # The view's own copy of the scene rect: the scene may already be gone while the
        # panel closes and its scroll bars still report.
        shown = self.main.visible_scene_rect().intersected(self.main.sceneRect())
        if shown == self._shown:
            return
        dirty = self.mapFromScene(self._shown.united(shown)).boundingRect().adjusted(-3, -3, 3, 3)
        self._shown = shown
        self.last_dirty = dirty
        self.viewport().update(dirty)

    def shown_rect(self) -> QRectF:
        """The main view's visible area, in scene coordinates, as the minimap draws it."""
        return QRectF(self._shown)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        if self._shown.isEmpty():
            return
        theme = getattr(self.scene(), "theme_name", "light")
        colour = QColor(themes.graph_color("highlight", theme))
        pen = QPen(colour, 2.0)
        pen.setCosmetic(True)  # two screen pixels at any minimap scale
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(self._shown)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.refit()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._steer(event.position())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._steer(event.position())
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        event.accept()  # not the main view's "open this block"

    def _steer(self, pos: QPointF) -> None:
        self.main.centerOn(self.mapToScene(pos.toPoint()))
