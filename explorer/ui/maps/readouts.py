"""Read-outs that make a node's values legible: class probabilities as labelled bars (for
the layers whose outputs are class scores) and the colour bar under the mosaic.

Both only render what they are given; neither computes anything heavy (a softmax over at
most 1,000 numbers, a 256-pixel gradient).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from explorer.activations.colormaps import lookup_table
from explorer.activations.predictions import class_names

MAX_BARS = 10  # ImageNet's 1,000 classes: only the best ten are legible as bars


def class_probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax of one sample's raw class scores (NaN padding of the display dropped)."""
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    flat = flat[np.isfinite(flat)]
    shifted = np.exp(flat - flat.max())
    return shifted / shifted.sum()


class ClassChart(pg.PlotWidget):
    """Horizontal bars of class probabilities, best on top, each labelled with its class."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background=None)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        plot = self.getPlotItem()
        plot.setLabel("bottom", "probability (softmax of the scores)")
        plot.invertY(True)
        plot.showGrid(x=True, y=False, alpha=0.3)
        self.bars = pg.BarGraphItem(x0=[0.0], y=[0.0], height=[0.7], width=[0.0],
                                    brush=(80, 130, 200, 220), pen=pg.mkPen((50, 90, 160)))
        self.addItem(self.bars)
        # Labels in the palette's text colour: pyqtgraph's default grey is faint on light themes.
        text = self.palette().color(self.foregroundRole())
        for side in ("left", "bottom"):
            plot.getAxis(side).setTextPen(text)
        self.shown: list[tuple[str, float]] = []

    def show_scores(self, scores: np.ndarray, names: tuple[str, ...] | None = None) -> None:
        """Draw the probabilities of ``scores`` (one sample's logits), the best ``MAX_BARS``."""
        probabilities = class_probabilities(scores)
        names = names if names is not None and len(names) == probabilities.size else class_names(
            probabilities.size)
        order = np.argsort(-probabilities, kind="stable")[:MAX_BARS]
        self.shown = [(names[i], float(probabilities[i])) for i in order]
        rows = np.arange(len(order), dtype=float)
        self.bars.setOpts(x0=np.zeros(len(order)), y=rows, height=np.full(len(order), 0.7),
                          width=probabilities[order])
        plot = self.getPlotItem()
        plot.getAxis("left").setTicks([[(float(r), f"{name}  {p * 100:.1f}%")
                                        for r, (name, p) in zip(rows, self.shown)]])
        title = "Class probabilities" + (f" (best {MAX_BARS} of {probabilities.size})"
                                         if probabilities.size > MAX_BARS else "")
        plot.setTitle(title, size="9pt")
        plot.setXRange(0.0, 1.0, padding=0.02)
        plot.setYRange(-0.6, max(len(order), 1) - 0.4, padding=0.0)


class ColorBar(QWidget):
    """The colour map as a strip with the values its ends stand for."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.low_label = QLabel("")
        self.low_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.low_label)
        self.strip = QLabel()
        self.strip.setScaledContents(True)
        self.strip.setFixedHeight(12)
        self.strip.setMinimumWidth(60)
        self.strip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.strip, 1)
        self.high_label = QLabel("")
        layout.addWidget(self.high_label)
        self._colormap: str | None = None

    def show_range(self, colormap: str, lo: float | None, hi: float | None) -> None:
        """``lo`` and ``hi``: the values at the ends (None: each channel stretched alone)."""
        if colormap != self._colormap:
            self._colormap = colormap
            table = np.ascontiguousarray(lookup_table(colormap)[None, :, :])
            image = QImage(table.data, 256, 1, 256 * 4, QImage.Format.Format_RGBA8888).copy()
            self.strip.setPixmap(QPixmap.fromImage(image))
        if lo is None or hi is None:
            self.low_label.setText("each channel's min")
            self.high_label.setText("max")
        else:
            self.low_label.setText(f"{lo:.3g}")
            self.high_label.setText(f"{hi:.3g}")
