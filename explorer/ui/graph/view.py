"""The graph view: zoom (wheel, +/-), pan (drag, arrow keys; in the window Left and Right
alone step the feature maps, Shift+Left/Right pan), fit to window."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRectF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QGraphicsView

from explorer.ui.drops import pass_drops_on
from explorer.ui.graph.items import FrameItem, NodeItem

MIN_ZOOM = 0.03
MAX_ZOOM = 4.0
KEY_ZOOM = 1.25
PAN_STEP = 60
FIT_MAX_ZOOM = 1.5  # a small graph fitted larger than this only looks blown up


class GraphView(QGraphicsView):
    """QGraphicsView with the graph's navigation; emits what the user activates.

    Signals:
        node_activated(str): a node or block was double-clicked (unit id).
        frame_activated(str): the frame of an open block was double-clicked (module path).
        zoom_changed(float): the scale changed.
    """

    node_activated = Signal(str)
    frame_activated = Signal(str)
    zoom_changed = Signal(float)

    def __init__(self, scene, parent=None) -> None:
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        pass_drops_on(self)

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor_under_mouse: bool = False) -> None:
        target = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom() * factor))
        factor = target / self.zoom()
        if abs(factor - 1.0) < 1e-9:
            return
        old = self.transformationAnchor()
        if not anchor_under_mouse:
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.scale(factor, factor)
        self.setTransformationAnchor(old)
        self.zoom_changed.emit(self.zoom())

    def fit_to_window(self) -> None:
        """Show the whole graph. Always the whole of it: a tall graph fitted small stays
        legible because its nodes switch to their short names (see graph_items)."""
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > FIT_MAX_ZOOM:
            self.resetTransform()
            self.scale(FIT_MAX_ZOOM, FIT_MAX_ZOOM)
        self.centerOn(rect.center())
        self.zoom_changed.emit(self.zoom())

    def visible_scene_rect(self) -> QRectF:
        """The part of the scene the viewport shows now."""
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta == 0:
            return super().wheelEvent(event)
        self.zoom_by(1.0015 ** delta, anchor_under_mouse=True)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(KEY_ZOOM)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_by(1 / KEY_ZOOM)
        elif key in (Qt.Key.Key_0, Qt.Key.Key_Home):
            self.fit_to_window()
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down):
            dx = {Qt.Key.Key_Left: -PAN_STEP, Qt.Key.Key_Right: PAN_STEP}.get(key, 0)
            dy = {Qt.Key.Key_Up: -PAN_STEP, Qt.Key.Key_Down: PAN_STEP}.get(key, 0)
            self.pan_by(dx, dy)
        else:
            super().keyPressEvent(event)

    def pan_by(self, dx: int, dy: int) -> None:
        """Move the visible area by (dx, dy) viewport pixels."""
        centre = self.mapToScene(self.viewport().rect().center())
        zoom = self.zoom() or 1.0
        self.centerOn(centre.x() + dx / zoom, centre.y() + dy / zoom)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        for item in self.items(event.position().toPoint()):
            if isinstance(item, NodeItem):
                self.node_activated.emit(item.unit)
                event.accept()
                return
            if isinstance(item, FrameItem):
                self.frame_activated.emit(item.path)
                event.accept()
                return
        super().mouseDoubleClickEvent(event)

    def visible_center(self) -> QPoint:
        return self.viewport().rect().center()
