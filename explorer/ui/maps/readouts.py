"""Read-outs that make a node's values legible: class scores as labelled bars (for the
layers whose outputs are class scores, here and in Side by side) and the colour bar under
the mosaic.

Both only render what they are given; neither computes anything heavy (a softmax over at
most 1,000 numbers, a 256-pixel gradient).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from explorer.activations.colormaps import lookup_table
from explorer.activations.predictions import class_names
from explorer.ui.drops import pass_drops_on

MAX_BARS = 10  # ImageNet's 1,000 classes: only the best ten are legible as bars
LABEL_SHARE = 0.5  # at most this share of the chart's width for the row labels
LABEL_PAD = 14  # pixels of the left axis besides its text (tick and offset)


def finite_scores(scores: np.ndarray) -> np.ndarray:
    """One sample's class scores as a flat float64 vector (the display's NaN padding dropped)."""
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    return flat[np.isfinite(flat)]


def class_probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax of one sample's raw class scores (NaN padding of the display dropped)."""
    flat = finite_scores(scores)
    shifted = np.exp(flat - flat.max())
    return shifted / shifted.sum()


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


class ClassChart(pg.PlotWidget):
    """Horizontal bars, one per class, largest on top, each labelled with its class name
    and value: class probabilities (``show_scores``), raw scores (``show_raw_scores``) or
    any per-class vector such as the difference of two models' probabilities
    (``show_bars``). Wherever the app shows a vector of class scores it draws it here,
    never as a grid of coloured cells.

    ``compact``: no title and no axis name (a caption beside it says what it shows), and
    smaller row labels, for a chart that has little height (a detail tab's page).
    """

    #: A bar was clicked: the index of its class in the vector shown.
    class_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None, compact: bool = False) -> None:
        self.compact = compact
        super().__init__(parent=parent, background=None)
        pass_drops_on(self)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        plot = self.getPlotItem()
        plot.setLabel("bottom", "probability")
        self._row_font = QFont(self.font())
        if compact:
            self._row_font.setPointSizeF(max(6.5, self.font().pointSizeF() * 0.85))
            plot.getAxis("left").setStyle(tickFont=self._row_font)
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
        self.order: list[int] = []  # the class index drawn in each row, top first
        self._label = _percent
        self.scene().sigMouseClicked.connect(self._on_clicked)

    def show_scores(self, scores: np.ndarray, names: tuple[str, ...] | None = None) -> None:
        """Draw the probabilities of ``scores`` (one sample's logits), the best ``MAX_BARS``."""
        self.show_bars(class_probabilities(scores), names, title="Class probabilities", axis="probability",
                       label=_percent, x_range=(0.0, 1.0))

    def show_raw_scores(self, scores: np.ndarray, names: tuple[str, ...] | None = None) -> None:
        """Draw ``scores`` (one sample's logits) as they are, the highest ``MAX_BARS``."""
        self.show_bars(finite_scores(scores), names, title="Class scores (logits)", axis="score",
                       label=lambda v: f"{v:.4g}")

    def show_bars(self, values: np.ndarray, names: tuple[str, ...] | None = None, *, title: str, axis: str,
                  label=_percent, x_range: tuple[float, float] | None = None) -> None:
        """One bar per class for ``values`` (one per class), largest first, at most
        ``MAX_BARS``; each row reads "class name  label(value)". ``x_range`` fixes the value
        axis (default: from zero to the values' extremes).

        The title and the axis label are short and long class names are cut to the width
        (``_fit_labels``): pyqtgraph widens a plot to fit them, and a chart in a third of a
        1024 px window (Side by side) was cut off on the right."""
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        names = names if names is not None and len(names) == values.size else class_names(values.size)
        order = np.argsort(-values, kind="stable")[:MAX_BARS]
        self.shown = [(names[i], float(values[i])) for i in order]
        self.order = [int(i) for i in order]
        self._label = label
        rows = np.arange(len(order), dtype=float)
        self.bars.setOpts(x0=np.zeros(len(order)), y=rows, height=np.full(len(order), 0.7),
                          width=values[order])
        plot = self.getPlotItem()
        self._fit_labels()
        plot.setTitle(None if self.compact else title if values.size <= MAX_BARS else
                      f"Top {MAX_BARS} of {values.size}", size="9pt")
        plot.setLabel("bottom", None if self.compact else axis)
        if x_range is None:
            shown = values[order]
            lo, hi = min(0.0, float(shown.min(initial=0.0))), max(0.0, float(shown.max(initial=0.0)))
            x_range = (lo, hi if hi > lo else lo + 1.0)
        plot.setXRange(*x_range, padding=0.02)
        plot.setYRange(-0.6, max(len(order), 1) - 0.4, padding=0.0)

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        plot = self.getPlotItem()
        if not plot.sceneBoundingRect().contains(event.scenePos()):
            return
        row = round(plot.vb.mapSceneToView(event.scenePos()).y())
        if 0 <= row < len(self.order):
            self.class_clicked.emit(self.order[row])

    def _fit_labels(self) -> None:
        """Write the row labels, each class name cut (…) so that the labels take at most
        ``LABEL_SHARE`` of the chart's width ("American Staffordshire terrier" alone is
        wider than a third of a 1024 px window leaves the bars), and fix the axis to them."""
        if not self.__dict__.get("shown"):  # nothing drawn yet (a resize during __init__)
            return
        axis = self.getPlotItem().getAxis("left")
        metrics = QFontMetrics(self._row_font)
        budget = max(60, int(self.viewport().width() * LABEL_SHARE)) - LABEL_PAD
        texts = []
        for name, value in self.shown:
            suffix = f"  {self._label(value)}"
            room = max(budget - metrics.horizontalAdvance(suffix), metrics.horizontalAdvance("M…"))
            texts.append(metrics.elidedText(name, Qt.TextElideMode.ElideRight, room) + suffix)
        axis.setWidth(min(budget, max(metrics.horizontalAdvance(t) for t in texts)) + LABEL_PAD)
        axis.setTicks([[(float(row), text) for row, text in enumerate(texts)]])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_labels()

    def labels(self) -> list[str]:
        """The row labels drawn on the chart's left axis, top to bottom."""
        ticks = self.getPlotItem().getAxis("left")._tickLevels
        return [text for _, text in ticks[0]] if ticks else []

    def fits(self) -> bool:
        """Whether the whole chart (labels, title, axis) is inside the widget: pyqtgraph
        draws a plot wider than its view past the view's edge, cut off."""
        needed = self.getPlotItem().effectiveSizeHint(Qt.SizeHint.MinimumSize)
        return needed.width() <= self.viewport().width() and needed.height() <= self.viewport().height()


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
