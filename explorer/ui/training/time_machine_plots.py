"""The time machine's per-layer plots: weight histograms over epochs as a heat map
(TensorBoard's histogram view), and gradient norm, weight change and dead ReLUs per epoch.

It renders the summaries a run recorded (``explorer.explain.replay`` arranges them); a
vertical line marks the epoch the scrubber shows.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from explorer.explain.replay import HistogramHeat, dead_relu_series, histogram_heat, layer_names, layer_series
from explorer.train.records import GRAD_NORM, WEIGHT_CHANGE, EpochSummary
from explorer.ui.drops import pass_drops_on

HEAT_COLORS = "viridis"


class EpochAxis(pg.AxisItem):
    """An epoch axis: ticks at whole epochs only (pyqtgraph's own put them at 0.5, 1.5…
    for a run of a few epochs)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph override
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size) if float(spacing).is_integer()]
        levels = [(spacing, values) for spacing, values in levels if values]
        if not levels:  # a few epochs wide: every whole epoch in view
            first, last = int(np.ceil(minVal)), int(np.floor(maxVal))
            levels = [(1.0, [float(v) for v in range(first, last + 1)])]
        return levels


class LayerHistory(QWidget):
    """A layer picker over three plots sharing the epoch axis."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._summaries: dict[int, EpochSummary] = {}
        self._epoch: int | None = None
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Layer"))
        self.layer_combo = QComboBox(objectName="tm_layer")
        self.layer_combo.setToolTip("Which layer's weights the histogram and the metrics show")
        self.layer_combo.currentIndexChanged.connect(self._on_layer)
        row.addWidget(self.layer_combo, 1)
        column.addLayout(row)

        text = self.palette().color(QPalette.ColorRole.WindowText)
        self.plots = pg.GraphicsLayoutWidget()
        pass_drops_on(self.plots)
        self.plots.setBackground(self.palette().color(QPalette.ColorRole.Base))
        self.plots.setMinimumHeight(300)

        def plot(title: str, left: str, row_index: int) -> pg.PlotItem:
            item = self.plots.addPlot(row=row_index, col=0, title=f"<span style='color:{text.name()}'>{title}</span>",
                                      axisItems={"bottom": EpochAxis("bottom")})
            item.setLabel("left", left)
            item.setMenuEnabled(False)
            for axis in ("left", "bottom"):
                item.getAxis(axis).setPen(text)
                item.getAxis(axis).setTextPen(text)
            return item

        self.heat_plot = plot("Weight histogram per epoch", "weight", 0)
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setColorMap(pg.colormap.get(HEAT_COLORS))
        self.heat_plot.addItem(self.heat)
        # The curves' colours name them in the title: a legend box hid the curves. Short, as a
        # plot is never narrower than its title (a longer one was cut off beside the replay).
        self.metric_plot = plot("<span style='color:#d62728'>gradient norm</span> · "
                                "<span style='color:#1f77b4'>weight change</span>", "", 1)
        self.metric_plot.setToolTip("Red: the layer's mean gradient norm over the epoch; blue: how far its "
                                    "weights have moved from the starting weights")
        self._grad = self.metric_plot.plot(pen=pg.mkPen("#d62728", width=2), symbol="o", symbolSize=5,
                                           symbolBrush="#d62728")
        self._change = self.metric_plot.plot(pen=pg.mkPen("#1f77b4", width=2), symbol="s", symbolSize=5,
                                             symbolBrush="#1f77b4")
        self.dead_plot = plot("Dead ReLU units", "fraction", 2)
        self.dead_plot.setLabel("bottom", "epoch")
        self.dead_plot.setYRange(0, 1)
        self.dead_plot.setToolTip("Share of each ReLU module's units that stay at zero for a whole fixed "
                                  "probe batch of test images, one line per module")
        self._dead: list[pg.PlotDataItem] = []
        self._markers = []
        for item in (self.heat_plot, self.metric_plot, self.dead_plot):
            marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ff7f0e", width=2))
            marker.hide()
            item.addItem(marker)
            self._markers.append(marker)
        self.metric_plot.setXLink(self.heat_plot)
        self.dead_plot.setXLink(self.heat_plot)
        column.addWidget(self.plots, 1)

    # ----- data --------------------------------------------------------------------------

    def set_summaries(self, summaries: dict[int, EpochSummary]) -> None:
        """Show another set of per-epoch summaries (the run's, or more of them)."""
        self._summaries = summaries
        names = layer_names(summaries)
        current = self.layer_combo.currentText()
        if names != [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())]:
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItems(names)
            if current in names:
                self.layer_combo.setCurrentText(current)
            self.layer_combo.blockSignals(False)
        self._draw()

    def clear(self) -> None:
        self.set_summaries({})

    def mark_epoch(self, epoch: int | None) -> None:
        self._epoch = epoch
        for marker in self._markers:
            marker.setVisible(epoch is not None)
            if epoch is not None:
                marker.setValue(epoch)

    @property
    def layer(self) -> str:
        return self.layer_combo.currentText()

    def heat_data(self) -> HistogramHeat:
        """What the heat map shows: one column per epoch."""
        return histogram_heat(self._summaries, self.layer) if self.layer else histogram_heat({}, "")

    def _on_layer(self, _index: int) -> None:
        self._draw()

    def _draw(self) -> None:
        layer = self.layer
        heat = self.heat_data()
        if heat.epochs:
            # Row-major: rows are value bins (y), columns epochs (x); log counts keep the
            # tails visible beside the peak.
            self.heat.setImage(np.log1p(heat.counts.T), autoLevels=True)
            first, last = heat.epochs[0], heat.epochs[-1]
            self.heat.setRect(first - 0.5, heat.lo, last - first + 1, heat.hi - heat.lo)
            self.heat_plot.setXRange(first - 0.5, last + 0.5, padding=0)
            self.heat_plot.setYRange(heat.lo, heat.hi, padding=0.02)
        else:
            self.heat.clear()
        for curve, key in ((self._grad, GRAD_NORM), (self._change, WEIGHT_CHANGE)):
            x, y = layer_series(self._summaries, layer, key) if layer else ([], [])
            curve.setData(x, y)
        for curve in self._dead:
            self.dead_plot.removeItem(curve)
        self._dead = []
        for k, (_module, (x, y)) in enumerate(sorted(dead_relu_series(self._summaries).items())):
            color = pg.intColor(k, hues=max(3, len(self._dead) + 9), alpha=200)
            self._dead.append(self.dead_plot.plot(x, y, pen=pg.mkPen(color, width=1.5)))
