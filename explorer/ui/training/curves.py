"""The live curves of a run: batch loss, accuracy per epoch, learning rate.

The curves are created once and fed with ``setData``, with the axes cached and the y
ranges moved only when the data leaves them, so a refresh repaints little more than the
curves themselves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGraphicsItem, QSizePolicy, QWidget

from explorer.train import BatchMetrics, EpochMetrics
from explorer.train.records import Curves
from explorer.ui.drops import pass_drops_on
from explorer.ui.training.time_machine_plots import EpochAxis

OVERLAY_COLORS = ("#8c564b", "#9467bd", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
# TensorBoard's smoothing: the weight of the past in an exponential moving average
# (0: raw points; the newest batch weighs 1 - SMOOTHING), debiased like TensorBoard's.
SMOOTHING = 0.95


def smooth(values: list[float] | np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of ``values`` (``weight`` of the past)."""
    out = np.empty(len(values))
    ema = norm = 0.0
    for i, value in enumerate(values):
        ema = weight * ema + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        out[i] = ema / norm if norm > 0 else value
    return out


class _RowLegend(pg.LegendItem):
    """A legend laid out as a cell of the plots' grid (pyqtgraph's floats over a plot)."""

    def updateSize(self) -> None:  # noqa: N802 - pyqtgraph's name
        # pyqtgraph moves the legend to (0, 0) at its content's size; in a grid cell the
        # grid places it, and only needs to hear that its size hint changed.
        self.updateGeometry()


class TrainingCurves(pg.GraphicsLayoutWidget):
    """Three plots side by side, fed batch by batch and epoch by epoch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pass_drops_on(self)
        base = self.palette().color(QPalette.ColorRole.Base)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        self.setBackground(base)
        self.setMinimumHeight(220)
        self._y_tops: dict[int, float] = {}
        self._overlays: dict[str, pg.PlotDataItem] = {}
        self.smoothing = SMOOTHING

        def plot(column: int, title: str, left: str) -> pg.PlotItem:
            item = self.addPlot(row=0, col=column, title=f"<span style='color:{text.name()}'>{title}</span>",
                                axisItems={"bottom": EpochAxis(orientation="bottom")})
            item.showGrid(x=True, y=True, alpha=0.25)
            item.setLabel("bottom", "epoch")
            item.setLabel("left", left)
            for axis in ("left", "bottom"):
                item.getAxis(axis).setPen(text)
                item.getAxis(axis).setTextPen(text)
                # An axis draws its grid across the whole plot: replaying that on every
                # repaint was most of a redraw (11 ms of 13 here). Cached as a pixmap it
                # is redrawn only when its range changes, which _fit_y keeps rare.
                item.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            return item

        # Short titles: a title sets its plot's minimum width, and the three must fit the ~450 px
        # a 1024 px window leaves them ("Batch loss" and "Accuracy per epoch" cut the third off).
        self.loss_plot = plot(0, "Loss", "loss")
        # Per-batch curves repaint several times a second: no antialiasing and no finite
        # checks keep each repaint short on the GUI thread.
        self._loss_raw = self.loss_plot.plot(pen=pg.mkPen(QColor(150, 150, 150, 120), width=1), antialias=False,
                                             skipFiniteCheck=True)
        self._loss_smooth = self.loss_plot.plot(pen=pg.mkPen("#1f77b4", width=2), skipFiniteCheck=True)

        self.acc_plot = plot(1, "Accuracy", "accuracy")
        # The accuracy legend is a row of its own under the plots (its marks are the accuracy
        # curves'): inside the plot it covered a third of the curves in a narrow window, and
        # under the accuracy plot alone it widened that column past the room there is. As
        # the plot's legend, curves named on the plot (the runs table's overlays) join it
        # and the theme recolours it.
        legend = _RowLegend(colCount=3, horSpacing=10, labelTextColor=text, frame=False)
        self.addItem(legend, row=1, col=0, colspan=3)
        legend.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.ci.layout.setAlignment(legend, Qt.AlignmentFlag.AlignCenter)
        self.acc_plot.legend = legend
        self._acc_train = self.acc_plot.plot(pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=6,
                                             symbolBrush="#1f77b4", name="train")
        self._acc_val = self.acc_plot.plot(pen=pg.mkPen("#2ca02c", width=2), symbol="s", symbolSize=6,
                                           symbolBrush="#2ca02c", name="validation")
        self._acc_test = self.acc_plot.plot(pen=pg.mkPen("#d62728", width=2), symbol="t", symbolSize=7,
                                            symbolBrush="#d62728", name="test")
        self.acc_plot.setYRange(0, 1)

        self.lr_plot = plot(2, "Learning rate", "lr")
        self._lr_curve = self.lr_plot.plot(pen=pg.mkPen("#ff7f0e", width=2), skipFiniteCheck=True)
        self.reset()

    # ----- series ------------------------------------------------------------------------

    def reset(self, epochs: int = 1) -> None:
        """Empty every curve (overlays stay) and show ``epochs`` on the x axes."""
        self._batch_x: list[float] = []
        self._batch_loss: list[float] = []
        self._smooth: list[float] = []
        self._ema = 0.0
        self._ema_weight = 0.0
        self._lr_x: list[float] = []
        self._lr_y: list[float] = []
        self._epoch_x: list[int] = []
        self._train_acc: list[float] = []
        self._val_acc: list[float] = []
        self._test_acc: list[float] = []
        self._batches_dirty = False
        self._epochs_dirty = False
        for curve in (self._loss_raw, self._loss_smooth, self._lr_curve, self._acc_train, self._acc_val, self._acc_test):
            curve.setData([], [])
        self.set_epochs(epochs)
        # The previous model's loss and lr scales would otherwise stay on the empty plots.
        for plot in (self.loss_plot, self.lr_plot):
            plot.setYRange(0.0, 1.0, padding=0)

    def set_epochs(self, epochs: int) -> None:
        """A fixed epoch axis: with auto-range the x ticks would be recomputed and re-laid
        out on every refresh, the most expensive part of a redraw."""
        for plot in (self.loss_plot, self.lr_plot):
            plot.setXRange(0, epochs, padding=0.02)
            # y is fitted by _fit_y: auto-range would move it (and redraw the axes) on
            # every refresh as the loss falls.
            plot.enableAutoRange(x=False, y=False)
        self._y_tops = {}
        self.acc_plot.setXRange(0.5, max(epochs, 1) + 0.5, padding=0)
        self.acc_plot.enableAutoRange(x=False, y=False)

    def series(self, name: str) -> tuple[list[float], list[float]]:
        """The points of one curve: ``loss``, ``smooth_loss``, ``lr``, ``train``,
        ``validation`` or ``test`` (accuracy per epoch)."""
        curves = {
            "loss": self._loss_raw, "smooth_loss": self._loss_smooth, "lr": self._lr_curve,
            "train": self._acc_train, "validation": self._acc_val, "test": self._acc_test,
        }
        x, y = curves[name].getData()
        return ([] if x is None else list(x)), ([] if y is None else list(y))

    def add_batch(self, m: BatchMetrics) -> None:
        """Append a batch's new losses and its learning rate (drawn at the next ``redraw``)."""
        if not m.losses:
            return
        beta = self.smoothing
        for k, loss in enumerate(m.losses):
            self._ema = beta * self._ema + (1 - beta) * loss
            self._ema_weight = beta * self._ema_weight + (1 - beta)
            self._batch_x.append((m.first_loss_index + k + 1) / m.batches)
            self._batch_loss.append(loss)
            # Bias-corrected, so the first points are not pulled towards zero.
            self._smooth.append(self._ema / self._ema_weight)
        self._lr_x.append(self._batch_x[-1])
        self._lr_y.append(m.lr)
        self._batches_dirty = True

    def add_epoch(self, m: EpochMetrics) -> None:
        self._epoch_x.append(m.epoch)
        self._train_acc.append(m.train_acc)
        self._val_acc.append(m.val_acc if m.val_acc is not None else float("nan"))
        self._test_acc.append(m.test_acc)
        self._epochs_dirty = True

    def show_past_epochs(self, curves: Curves) -> None:
        """Put a resumed run's earlier epochs on the curves."""
        epochs = list(curves.epoch)
        losses = list(curves.batch_loss)
        self._epoch_x = epochs
        self._train_acc = [v if v is not None else float("nan") for v in curves.train_acc]
        self._val_acc = [v if v is not None else float("nan") for v in curves.val_acc]
        self._test_acc = [v if v is not None else float("nan") for v in curves.test_acc]
        if epochs and losses:
            per_epoch = len(losses) / epochs[-1]
            for i, loss in enumerate(losses):
                self._ema = self.smoothing * self._ema + (1 - self.smoothing) * loss
                self._ema_weight = self.smoothing * self._ema_weight + (1 - self.smoothing)
                self._batch_x.append((i + 1) / per_epoch)
                self._batch_loss.append(loss)
                self._smooth.append(self._ema / self._ema_weight)
        self._batches_dirty = self._epochs_dirty = True
        self.redraw()

    def set_smoothing(self, weight: float) -> None:
        """Smooth the batch loss with another weight (0: raw, 0.999 most). Per-epoch curves
        stay raw: a handful of points, where a weight meant for batches would flatten them."""
        self.smoothing = min(max(float(weight), 0.0), 0.999)
        self._smooth = list(smooth(self._batch_loss, self.smoothing))
        self._ema, self._ema_weight = 0.0, 0.0
        for loss in self._batch_loss:  # the running state new batches continue from
            self._ema = self.smoothing * self._ema + (1 - self.smoothing) * loss
            self._ema_weight = self.smoothing * self._ema_weight + (1 - self.smoothing)
        self._batches_dirty = True
        self.redraw()

    def redraw(self) -> None:
        """Feed the curves that have new points (each plot repaints only when fed)."""
        if self._batches_dirty:
            self._batches_dirty = False
            losses = np.asarray(self._batch_loss)
            lrs = np.asarray(self._lr_y)
            self._loss_raw.setData(np.asarray(self._batch_x), losses)
            self._loss_smooth.setData(np.asarray(self._batch_x), np.asarray(self._smooth))
            self._lr_curve.setData(np.asarray(self._lr_x), lrs)
            self._fit_y(self.loss_plot, losses)
            self._fit_y(self.lr_plot, lrs)
        if self._epochs_dirty:
            self._epochs_dirty = False
            x = np.asarray(self._epoch_x, dtype=float)
            self._acc_train.setData(x, np.asarray(self._train_acc))
            self._acc_val.setData(x, np.asarray(self._val_acc), connect="finite")
            self._acc_test.setData(x, np.asarray(self._test_acc))

    def _fit_y(self, plot: pg.PlotItem, values: np.ndarray) -> None:
        """Show [0, top] with ``top`` a round number above the largest value.

        Losses and learning rates are not negative, so 0 is a fixed floor; the top moves
        only when a value rises above it or all values fall below a third of it, so
        most refreshes leave the axes (and their cached pixmaps) as they are.
        """
        finite = values[np.isfinite(values)] if len(values) else values
        if not len(finite):
            return
        peak = float(finite.max())
        top = self._y_tops.get(id(plot))
        if top is not None and top / 3 <= peak <= top:
            return
        if peak <= 0:
            top = 1.0
        else:
            # The next round number (1, 1.2, 1.5, 2, ... x 10^k) above the peak plus 5%.
            scale = 10.0 ** math.floor(math.log10(peak * 1.05))
            top = next(m * scale for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
                       if m * scale >= peak * 1.05)
        self._y_tops[id(plot)] = top
        plot.setYRange(0.0, top, padding=0)

    # ----- overlays ----------------------------------------------------------------------

    @property
    def overlays(self) -> list[str]:
        """Run ids whose test accuracy is drawn dashed on the accuracy plot."""
        return list(self._overlays)

    def overlay_points(self, run_id: str) -> list[float]:
        x, _ = self._overlays[run_id].getData()
        return [] if x is None else list(x)

    def add_overlay(self, run_id: str, epochs: Sequence[int], test_acc: Sequence[float | None], name: str) -> None:
        if run_id in self._overlays:
            return
        color = OVERLAY_COLORS[len(self._overlays) % len(OVERLAY_COLORS)]
        accuracies = [v if v is not None else float("nan") for v in test_acc]
        self._overlays[run_id] = self.acc_plot.plot(
            list(epochs), accuracies, pen=pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine),
            name=name, connect="finite")
        # A longer run than the one shown: widen the epoch axis so its curve is not cut off.
        right = self.acc_plot.viewRange()[0][1]
        if len(epochs) and max(epochs) + 0.5 > right:
            self.acc_plot.setXRange(0.5, max(epochs) + 0.5, padding=0)

    def remove_overlay(self, run_id: str) -> None:
        curve = self._overlays.pop(run_id, None)
        if curve is not None:
            self.acc_plot.removeItem(curve)
