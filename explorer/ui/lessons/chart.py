"""A lesson's chart: one curve per series, the shipped result dashed beside a rerun's.

The title is a label over the plot that wraps, and the legend a grid under the plot whose
column count follows the width, rather than a box over the curves: so a chart never hides
a curve and is never wider than the page, however many series it has or however narrow the
window. A shipped series and the rerun's of the same name share a colour and differ in
dash, so the two runs of one arm read as a pair.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from explorer.lessons.base import Chart, Series
from explorer.ui.drops import pass_drops_on

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22")
SHIPPED = " (shipped)"
PLOT_HEIGHT = 280  # the plot itself, axes included; the legend's rows come on top
LEGEND_ROW = 22
SAMPLE_WIDTH = 34  # a legend entry's line sample and the gap after its label


class _RowLegend(pg.LegendItem):
    """A legend placed as a cell of the layout under the plot (pyqtgraph's floats over it)."""

    def updateSize(self) -> None:
        # pyqtgraph would move a floating legend to (0, 0); in a layout cell only its size
        # hint changes.
        self.updateGeometry()


def series_label(series: Series) -> str:
    """The legend's name of ``series``: a shipped one says so."""
    if series.shipped and "shipped" not in series.name.lower():
        return series.name + SHIPPED
    return series.name


def _colour_key(name: str) -> str:
    """The arm a series belongs to: its name without a trailing "(…)" (shipped, rerun)."""
    return name.split(" (")[0].strip().lower()


def _finite_for_log(values: np.ndarray) -> np.ndarray:
    """A log axis cannot place zero or negative values: they become gaps."""
    values = values.astype(float, copy=True)
    values[~(values > 0)] = np.nan
    return values


def log_ticks(values: np.ndarray) -> list[tuple[float, str]]:
    """Ticks of a log axis as (log10 of the value, the value written plainly).

    pyqtgraph labels a log axis only at whole decades ("3·10¹" between them), so a loss
    from 2.29 to 2.52 got no label at all: over a decade or more these are 1, 2, 5 times a
    power of ten; within one, evenly spaced values.
    """
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return []
    low, high = float(positive.min()), float(positive.max())
    if high / low >= 10:
        decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        ticks = [m * 10.0 ** k for k in decades for m in (1, 2, 5) if low / 1.0001 <= m * 10.0 ** k <= high * 1.0001]
        if len(ticks) > 8:
            ticks = [t for t in ticks if f"{t:e}".startswith("1")]
    else:
        raw = (high - low) / 4 or high / 4
        power = 10.0 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
        ticks = [v for v in np.arange(math.ceil(low / step) * step, high + step / 2, step) if v > 0]
        if len(ticks) < 2:
            ticks = sorted({low, high})
    return [(math.log10(t), f"{t:.4g}") for t in ticks]


class _StaticPlots(pg.GraphicsLayoutWidget):
    """A chart on a scrolling page: the wheel scrolls the page (a plot under the pointer
    took it and zoomed out, walked in a real window), and the view does not pan."""

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        event.ignore()  # to the page's scroll area


class LessonChart(QWidget):
    """``chart`` drawn: its title, the plot with axis labels (log y when the chart asks for
    it), and the legend under it.

    Attributes:
        plot_item: the pyqtgraph plot.
        curves: one curve per series, in the chart's order.
    """

    def __init__(self, chart: Chart, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lesson-chart")
        self.chart = chart
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        self.title = QLabel(chart.title)
        self.title.setWordWrap(True)
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        column.addWidget(self.title)
        self.plots = _StaticPlots()
        pass_drops_on(self.plots)
        self.plots.setBackground(self.palette().color(QPalette.ColorRole.Base))
        self.plots.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.plots.setMinimumWidth(240)
        column.addWidget(self.plots)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        self.plot_item: pg.PlotItem = self.plots.addPlot(row=0, col=0)
        plot = self.plot_item
        plot.setLabel("bottom", chart.x_label, color=text.name())
        plot.setLabel("left", chart.y_label, color=text.name())
        plot.showGrid(x=True, y=True, alpha=0.25)
        for side in ("left", "bottom"):
            plot.getAxis(side).setPen(text)
            plot.getAxis(side).setTextPen(text)
            # A share of 0.7 drawn as "700" with the "(x0.001)" cut off a long label misled.
            plot.getAxis(side).enableAutoSIPrefix(False)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        if chart.log_y:
            plot.setLogMode(x=False, y=True)
        self.curves: list[pg.PlotDataItem] = []
        keys: dict[str, str] = {}
        for series in chart.series:
            colour = keys.setdefault(_colour_key(series.name), COLOURS[len(keys) % len(COLOURS)])
            x = np.asarray(series.x, dtype=float)
            y = np.asarray(series.y, dtype=float)
            if chart.log_y:
                y = _finite_for_log(y)
            style = Qt.PenStyle.DashLine if series.shipped else Qt.PenStyle.SolidLine
            few = len(x) <= 40  # markers on a handful of epochs; a per-step curve is a line
            curve = plot.plot(x, y, pen=pg.mkPen(colour, width=2, style=style),
                              symbol=("s" if series.shipped else "o") if few else None, symbolSize=6,
                              symbolBrush=None if series.shipped else colour, symbolPen=colour,
                              connect="finite")
            self.curves.append(curve)
        if chart.log_y:
            every_y = np.concatenate([np.asarray(s.y, dtype=float) for s in chart.series] or [np.zeros(0)])
            ticks = log_ticks(every_y)
            if ticks:
                plot.getAxis("left").setTicks([ticks, []])
        # The legend is made at the first resize, when the width it has is known (making
        # one now would mean making it twice); until then the height is a three-column one's.
        self.legend: _RowLegend | None = None
        self._legend_columns = 0
        self._set_height(3)

    @property
    def labels(self) -> list[str]:
        """The legend's entries, in order."""
        return [series_label(series) for series in self.chart.series]

    def _lay_out_legend(self, columns: int) -> None:
        """A legend of ``columns`` columns under the plot (a new one: pyqtgraph's grid does
        not reflow), and the height that leaves the plot its own."""
        columns = max(1, min(columns, len(self.curves) or 1))
        if columns == self._legend_columns:
            return
        self._legend_columns = columns
        if self.legend is not None:
            self.plots.ci.removeItem(self.legend)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        legend = _RowLegend(colCount=columns, horSpacing=14, labelTextColor=text, frame=False)
        for curve, label in zip(self.curves, self.labels, strict=True):
            legend.addItem(curve, label)
        self.plots.addItem(legend, row=1, col=0)
        legend.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.plots.ci.layout.setAlignment(legend, Qt.AlignmentFlag.AlignCenter)
        self.plot_item.legend = legend  # the theme recolours a plot's legend
        self.legend = legend
        self._set_height(columns)

    def _set_height(self, columns: int) -> None:
        rows = math.ceil(len(self.curves) / max(columns, 1))
        self.plots.setFixedHeight(PLOT_HEIGHT + LEGEND_ROW * rows + 8)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if not self.curves:
            return
        metrics = QFontMetrics(self.font())
        widest = max(metrics.horizontalAdvance(label) for label in self.labels) + SAMPLE_WIDTH + 14
        self._lay_out_legend(max(1, (event.size().width() - 24) // widest))
