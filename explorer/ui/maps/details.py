"""The feature-map panel's detail widgets: the input and top-5, and the per-node tabs
(one enlarged channel, the histogram, the learned kernels; the panel adds the explain
views) with the list that replaces their tab bar when it does not fit. They only render
what they are given; ``clear`` returns them to their empty state (another model or image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.activations.mosaic import KernelView, colorize, make_mosaic
from explorer.activations.predictions import Predictions
from explorer.ui.file_export import image_bytes, save_export
from explorer.ui.maps.readouts import ClassChart
from explorer.ui.maps.views import HistogramPlot, ImagePane

CHANNEL_HINT = "Click a channel in the mosaic to enlarge it"
KERNEL_HINT = "Learned kernels appear here for convolution layers"
SAVED_MIN_SIDE = 256  # a 7x7 map saved pixel for pixel is a speck: enlarge it, blocky


def rgba_png_bytes(rgba: np.ndarray) -> bytes:
    """An (H, W, 4) uint8 image encoded as PNG in memory, enlarged by whole pixels."""
    factor = max(1, -(-SAVED_MIN_SIDE // max(1, min(rgba.shape[:2]))))
    big = np.ascontiguousarray(np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1))
    h, w = big.shape[:2]
    return image_bytes(QImage(big.data, w, h, w * 4, QImage.Format.Format_RGBA8888))


class PredictionBox(QWidget):
    """The input as the model sees it, its top-5 and a note about the weights."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.input_pane = ImagePane(title="As the model sees it", min_size=100)
        layout.addWidget(self.input_pane, 1)
        table = QTableWidget(5, 2)
        self.top5_table = table
        table.setHorizontalHeaderLabels(["top-5 class", "p"])
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows_height = table.verticalHeader().defaultSectionSize() * 5
        table.setFixedHeight(rows_height + table.horizontalHeader().sizeHint().height() + 4)
        layout.addWidget(table)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #b35900;")
        # Room for two lines always, so the note never squeezes the table above it.
        self._two_lines = self.note.fontMetrics().lineSpacing() * 2 + 2
        self.note.setMinimumHeight(self._two_lines)
        self.note.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.note)

    def show_predictions(self, predictions: Predictions | None, display: np.ndarray | None) -> None:
        self.top5_table.clearContents()
        self.input_pane.set_rgba(display)
        if predictions is None:
            self._set_note("")
            return
        for row, p in enumerate(predictions.top[:5]):
            self.top5_table.setItem(row, 0, QTableWidgetItem(p.name))
            item = QTableWidgetItem(f"{p.probability * 100:.1f}%")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.top5_table.setItem(row, 1, item)
        self._set_note(predictions.note or "")

    def clear(self, note: str = "") -> None:
        self.show_predictions(None, None)
        self._set_note(note)

    def _set_note(self, text: str) -> None:
        self.note.setText(text)
        self._fit_note()

    def _fit_note(self) -> None:
        """The note's minimum height is what its text needs at the box's width: a narrow
        box (the time machine's column) wraps "untrained weights…" to three lines or more,
        and with only two reserved the layout drew the note over the top-5 table."""
        need = max(self._two_lines, self.note.heightForWidth(max(self.width(), 1)))
        if need != self.note.minimumHeight():
            self.note.setMinimumHeight(need)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_note()


class NodeDetailTabs(QTabWidget):
    """Channel, histogram and kernels of the node shown.

    Signals:
        pages_changed(): a tab was added or removed (the page list follows).
    """

    pages_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.currentChanged.connect(self._fit_current_page)
        channel_page = QWidget()
        channel_layout = QVBoxLayout(channel_page)
        channel_layout.setContentsMargins(2, 2, 2, 2)
        self.channel_pane = ImagePane(min_size=100)
        # A vector of class scores is no picture: its raw scores as labelled bars instead.
        # Compact: the label under it names it, and its ten rows share a short tab page.
        self.scores_chart = ClassChart(compact=True)
        self.scores_chart.setMinimumSize(100, 100)
        self.channel_stack = QStackedWidget()
        self.channel_stack.addWidget(self.channel_pane)
        self.channel_stack.addWidget(self.scores_chart)
        channel_layout.addWidget(self.channel_stack, 1)
        self.channel_label = QLabel(CHANNEL_HINT)
        self.channel_label.setWordWrap(True)
        two_lines = self.channel_label.fontMetrics().lineSpacing() * 2 + 2
        self.channel_label.setMinimumHeight(two_lines)
        row = QHBoxLayout()
        row.addWidget(self.channel_label, 1)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setToolTip("Save the enlarged channel as a PNG image")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_channel)
        row.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignTop)
        channel_layout.addLayout(row)
        self._channel_rgba: np.ndarray | None = None
        self._channel_number = 0
        self.addTab(channel_page, "Channel")
        self.histogram_plot = HistogramPlot()
        self.addTab(self.histogram_plot, "Histogram")
        kernel_page = QWidget()
        kernel_layout = QVBoxLayout(kernel_page)
        kernel_layout.setContentsMargins(2, 2, 2, 2)
        self.kernel_pane = ImagePane(min_size=100)
        kernel_layout.addWidget(self.kernel_pane, 1)
        self.kernel_label = QLabel(KERNEL_HINT)
        self.kernel_label.setWordWrap(True)
        self.kernel_label.setMinimumHeight(two_lines)
        kernel_layout.addWidget(self.kernel_label)
        self.addTab(kernel_page, "Kernels")

    def show_channel(self, values: np.ndarray | None, channel: int, colormap: str, clicked: bool) -> None:
        """Enlarge one channel (``values`` is its H x W map); None clears."""
        self.channel_stack.setCurrentWidget(self.channel_pane)
        if values is None:
            self._channel_rgba = None
            self.save_button.setEnabled(False)
            self.channel_pane.set_rgba(None)
            self.channel_label.setText(CHANNEL_HINT)
            return
        single = make_mosaic(values[None], scale="per_channel", pad=0, symmetric=colormap == "coolwarm")
        self._channel_rgba = colorize(single.values, colormap)
        self._channel_number = channel
        self.save_button.setEnabled(True)
        self.channel_pane.set_rgba(self._channel_rgba)
        finite = values[np.isfinite(values)]
        if finite.size:
            prefix = "channel" if clicked else "most varied channel"
            self.channel_label.setText(
                f"{prefix} {channel}: {values.shape[1]}×{values.shape[0]} · min {finite.min():.3g}"
                f" · max {finite.max():.3g} · mean {finite.mean():.3g} · "
                f"zeros in this channel {np.count_nonzero(finite == 0) / finite.size * 100:.0f}%"
                + ("" if clicked else "  (click the mosaic for another)"))

    def show_class_scores(self, scores: np.ndarray) -> None:
        """A node whose output is one score per class: its raw scores as labelled bars (the
        mosaic's chart shows their softmax), not a grid of unnamed cells."""
        self._channel_rgba = None
        self.save_button.setEnabled(False)
        self.channel_pane.set_rgba(None)
        self.scores_chart.show_raw_scores(scores)
        self.channel_stack.setCurrentWidget(self.scores_chart)
        count = int(np.isfinite(np.asarray(scores, dtype=np.float64)).sum())
        self.channel_label.setText(f"{count} class scores as the layer outputs them (before the softmax), "
                                   "highest first")

    def save_channel(self) -> None:
        """Ask for a file name and save the enlarged channel there as PNG."""
        if self._channel_rgba is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save channel as PNG", f"channel-{self._channel_number}.png",
                                              "PNG images (*.png)")
        if not path:
            return
        typed = path
        if not path.lower().endswith(".png"):
            path += ".png"
        # The dialog asked before replacing the name it returned, not one with ".png" added.
        self.save_channel_to(path, confirmed=path == typed)

    def save_channel_to(self, path: str | Path, *, confirmed: bool = False) -> Path | None:
        """Save the enlarged channel to ``path`` as PNG (``file_export.save_export``: asks
        before replacing unless ``confirmed``); None, and the reason below the channel, when
        it was not written."""
        rgba = self._channel_rgba
        if rgba is None:
            return None
        return save_export(self, path, lambda _checked: rgba_png_bytes(rgba),
                           report=self.channel_label.setText, confirmed=confirmed)

    def show_kernels(self, kernels: KernelView | None) -> None:
        if kernels is not None:
            self.kernel_pane.set_rgba(kernels.rgba)
            self.kernel_label.setText(f"Learned kernels: {kernels.note}")
        else:
            self.kernel_pane.set_rgba(None)
            self.kernel_label.setText("No learned kernels at this node (not a convolution)")

    def show_histogram(self, counts: np.ndarray | None, edges: np.ndarray | None) -> None:
        if counts is None:
            self.histogram_plot.set_histogram(np.zeros(1), np.array([0.0, 1.0]))
        else:
            self.histogram_plot.set_histogram(counts, edges)

    def clear(self) -> None:
        self.show_channel(None, 0, "gray", False)
        self.show_histogram(None, None)
        self.kernel_pane.set_rgba(None)
        self.kernel_label.setText(KERNEL_HINT)

    def _fit_current_page(self, _index: int = -1) -> None:
        """Only the page shown counts for the tabs' minimum height: the tallest hidden page
        (the knockout lab) otherwise kept the top-5 below the fold at 1024x700."""
        for index in range(self.count()):
            page = self.widget(index)
            vertical = QSizePolicy.Policy.Preferred if index == self.currentIndex() else QSizePolicy.Policy.Ignored
            page.setSizePolicy(page.sizePolicy().horizontalPolicy(), vertical)
        self.updateGeometry()

    def tabInserted(self, index: int) -> None:
        super().tabInserted(index)
        self._fit_current_page()
        self.pages_changed.emit()

    def tabRemoved(self, index: int) -> None:
        super().tabRemoved(index)
        self.pages_changed.emit()


class DetailPages(QWidget):
    """The detail tabs, switched by their tab bar when it fits the width and by a drop-down
    list when it does not: scroll arrows would hide tabs in a narrow window (six tabs need
    ~450 px; the panel's column gets ~250 at 1024 px wide).

    Attributes:
        tabs: the :class:`NodeDetailTabs` (pages are added to it).
        page_list: the drop-down list of the pages, shown instead of the tab bar when narrow.
    """

    def __init__(self, tabs: NodeDetailTabs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tabs = tabs
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.page_list = QComboBox()
        self.page_list.setToolTip("Choose a view (the tabs do not fit this width)")
        self.page_list.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.page_list.setMinimumContentsLength(8)
        # Like the tab bar: the panel keeps the keys (Home, End and Space step the maps;
        # a focused list would turn them into page changes and its popup).
        self.page_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.page_list.hide()
        self.page_list.activated.connect(tabs.setCurrentIndex)
        layout.addWidget(self.page_list)
        layout.addWidget(tabs, 1)
        tabs.pages_changed.connect(self._fill)
        tabs.currentChanged.connect(self._on_current_changed)
        self._fill()

    @property
    def narrow(self) -> bool:
        """True while the drop-down list stands in for the tab bar."""
        return not self.tabs.tabBar().isVisibleTo(self.tabs)

    def _fill(self) -> None:
        self.page_list.clear()
        for index in range(self.tabs.count()):
            self.page_list.addItem(self.tabs.tabText(index))
        self.page_list.setCurrentIndex(self.tabs.currentIndex())
        self._fit(self.width())

    def _on_current_changed(self, index: int) -> None:
        self.page_list.setCurrentIndex(index)

    def _fit(self, width: int) -> None:
        # The bar's size hint is the width of all its tabs side by side (without arrows).
        fits = self.tabs.tabBar().sizeHint().width() <= width
        self.tabs.tabBar().setVisible(fits)
        self.page_list.setVisible(not fits)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit(event.size().width())
