"""Small pyqtgraph views used by the feature-map panel: an image pane and a histogram.

Each pane owns one ``ImageItem`` (row-major, y down, square pixels) fed with ready RGBA or
grey arrays by ``set_rgba``; nothing per channel is a widget of its own.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QSizePolicy

from explorer.ui.drops import pass_drops_on


class ImagePane(pg.GraphicsLayoutWidget):
    """One image in a view box that keeps pixels square; reports clicks and hovers in
    image pixel coordinates.

    Signals:
        clicked(float x, float y): a left click at image pixel (column, row).
        hovered(float x, float y): the pointer moved over pixel (x, y); (-1, -1) when off.
        context_clicked(float x, float y): a right click at image pixel (x, y).
    """

    clicked = Signal(float, float)
    context_clicked = Signal(float, float)
    hovered = Signal(float, float)

    def __init__(self, parent=None, title: str | None = None, min_size: int = 120) -> None:
        super().__init__(parent=parent)
        pass_drops_on(self)
        # Follow the widget palette (light or dark theme) instead of pyqtgraph's black.
        self.setBackground(None)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumSize(min_size, min_size)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.ci.setContentsMargins(2, 2, 2, 2)
        if title:
            self.addLabel(title, row=0, col=0, size="9pt")
        self.view: pg.ViewBox = self.addViewBox(row=1 if title else 0, col=0, lockAspect=True,
                                                invertY=True, enableMenu=False)
        # Row-major per item, whatever the global pyqtgraph option: arrays are (rows, cols).
        self.item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.item)
        self._shape: tuple[int, int] | None = None
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self.scene().sigMouseMoved.connect(self._on_scene_moved)

    def set_rgba(self, image: np.ndarray | None) -> None:
        """Show an (H, W, 4) uint8 RGBA, (H, W, 3) RGB or (H, W) grey uint8 image; None clears."""
        if image is None or image.size == 0:
            self.item.clear()
            self._shape = None
            return
        shape = image.shape[:2]
        levels = None if image.ndim == 3 else (0, 255)
        self.item.setImage(image, autoLevels=False, levels=levels)
        if shape != self._shape:
            self._shape = shape
            self.view.setRange(xRange=(0, shape[1]), yRange=(0, shape[0]), padding=0.02)

    def item_pos(self, scene_pos: QPointF) -> QPointF:
        return self.item.mapFromScene(scene_pos)

    def scene_pos_of_pixel(self, x: float, y: float) -> QPointF:
        """Scene position of image pixel (x, y); used to aim synthetic clicks in tests."""
        return self.item.mapToScene(QPointF(x, y))

    def widget_pos_of_pixel(self, x: float, y: float):
        """Widget (viewport) position of image pixel (x, y), as a QPoint."""
        return self.mapFromScene(self.scene_pos_of_pixel(x, y))

    def _on_scene_clicked(self, event) -> None:
        button = event.button()
        if self._shape is None or button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        pos = self.item_pos(event.scenePos())
        if 0 <= pos.x() < self._shape[1] and 0 <= pos.y() < self._shape[0]:
            signal = self.clicked if button == Qt.MouseButton.LeftButton else self.context_clicked
            signal.emit(pos.x(), pos.y())

    def _on_scene_moved(self, scene_pos) -> None:
        if self._shape is None:
            return
        pos = self.item_pos(scene_pos)
        if 0 <= pos.x() < self._shape[1] and 0 <= pos.y() < self._shape[0]:
            self.hovered.emit(pos.x(), pos.y())
        else:
            self.hovered.emit(-1.0, -1.0)


class HistogramPlot(pg.PlotWidget):
    """Histogram of a node's values; one step curve created once and fed with ``setData``."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent, background=None)
        pass_drops_on(self)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumHeight(110)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.getPlotItem().setLabel("bottom", "value")
        self.getPlotItem().setLabel("left", "count")
        self.curve = self.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0,
                               brush=(80, 130, 200, 150), pen=pg.mkPen((60, 100, 170), width=1))
        self.zero_line = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen((200, 80, 60), style=Qt.PenStyle.DashLine))
        self.addItem(self.zero_line)

    def set_histogram(self, counts: np.ndarray, edges: np.ndarray) -> None:
        self.curve.setData(edges, counts.astype(np.float64))
        self.zero_line.setVisible(bool(edges[0] <= 0.0 <= edges[-1]))
        self.getPlotItem().enableAutoRange()
