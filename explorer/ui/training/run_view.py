"""The right side of the Training tab: what the run is, its curves and its newest epoch.

``RunView`` subscribes to ``session.training`` and only renders: the run label names the
run's own model (never the explorer's), and each recorded epoch updates the accuracy
curves, the confusion matrix and the misclassified images. Batches are too frequent to go
through the session; the panel feeds them to ``add_batch``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSplitter, QTabWidget, QVBoxLayout, QWidget

from explorer.loading import display_name
from explorer.session import TrainingRun
from explorer.train import BatchMetrics, EpochMetrics
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.views import ConfusionMatrixView, MisclassifiedGrid

NO_RUN = "No run yet: choose a recipe and press Start."


def disconnect_all(disconnects: list[Callable[[], None]], *_args: object) -> None:
    """Drop a view's session callbacks (when it closes or its C++ object is deleted)."""
    while disconnects:
        disconnects.pop()()


class RunView(QWidget):
    """Run label over the live curves, over the confusion matrix beside the mistakes."""

    def __init__(self, run: TrainingRun, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run = run
        self._accuracy: float | None = None  # the run's newest test accuracy
        self._past: tuple[int, str] = (0, "")  # runs the table lists, and a line on the newest
        column = QVBoxLayout(self)
        column.setContentsMargins(2, 2, 2, 2)
        self._label = QLabel(NO_RUN, objectName="run_label")
        self._label.setWordWrap(True)
        self._label.setStyleSheet("font-weight: bold; padding: 2px 4px;")
        top = QHBoxLayout()
        top.addWidget(self._label, 1)
        top.addWidget(QLabel("Smoothing"))
        self.smoothing = QSlider(Qt.Orientation.Horizontal, objectName="smoothing")
        self.smoothing.setRange(0, 99)
        self.smoothing.setFixedWidth(140)
        self.smoothing.setToolTip("Smoothing of the batch loss: TensorBoard's exponential moving average "
                                  "(0: raw, 0.99: smoothest)")
        self._smoothing_label = QLabel(objectName="smoothing_value")
        top.addWidget(self.smoothing)
        top.addWidget(self._smoothing_label)
        column.addLayout(top)
        self.curves = TrainingCurves()
        self.smoothing.setValue(round(self.curves.smoothing * 100))
        self._smoothing_label.setText(f"{self.curves.smoothing:.2f}")
        self.smoothing.valueChanged.connect(self._on_smoothing)
        self.confusion = ConfusionMatrixView()
        self.mistakes = MisclassifiedGrid()
        epoch_page = QSplitter(Qt.Orientation.Horizontal)
        epoch_page.addWidget(self.confusion)
        epoch_page.addWidget(self.mistakes)
        self.pages = QTabWidget(objectName="run_pages")
        self.pages.addTab(epoch_page, "Newest epoch")
        views = QSplitter(Qt.Orientation.Vertical)
        views.addWidget(self.curves)
        views.addWidget(self.pages)
        views.setSizes([380, 360])
        column.addWidget(views, 1)
        self._disconnects = [
            run.changed.connect(self._on_run_changed),
            run.epoch_finished.connect(self._on_epoch),
        ]
        # A plain function holding only the disconnects: it must not keep the view alive.
        self.destroyed.connect(functools.partial(disconnect_all, self._disconnects))
        self._on_run_changed(run)

    @property
    def label(self) -> str:
        return self._label.text()

    def close_view(self) -> None:
        disconnect_all(self._disconnects)

    def reset(self, loading: str = "", epochs: int = 1) -> None:
        """Empty every view: another model (no ``loading`` text) or a run that is loading."""
        self.curves.reset(epochs)
        self.confusion.clear(loading and f"Confusion matrix (test): {loading}")
        self.mistakes.clear(loading and f"Misclassified test images: {loading}")

    def clear_loading(self) -> None:
        """A run ended before its first epoch: drop the loading titles (curves stay)."""
        if self.confusion.matrix() is None:
            self.confusion.clear()
            self.mistakes.clear()

    def _on_smoothing(self, value: int) -> None:
        self.curves.set_smoothing(value / 100)
        self._smoothing_label.setText(f"{value / 100:.2f}")

    def add_batch(self, m: BatchMetrics) -> None:
        self.curves.add_batch(m)

    def _on_run_changed(self, run: TrainingRun) -> None:
        if run.state == "running" and run.epoch == 0:
            self._accuracy = None
        self._show_label(run)

    def _on_epoch(self, run: TrainingRun, m: EpochMetrics) -> None:
        self.curves.add_epoch(m)
        self.curves.redraw()
        self.confusion.set_matrix(m.confusion, m.epoch)
        wrong = m.misclassified
        self.mistakes.set_items(wrong.images.numpy(), wrong.predicted, wrong.true, m.epoch)
        self._accuracy = m.test_acc
        self._show_label(run)

    def set_past_runs(self, count: int, newest: str = "") -> None:
        """The runs the table below lists (``newest``: a line on the newest): until a run
        starts in this session, the label says they are there rather than "No run yet"."""
        self._past = (count, newest)
        self._show_label(self._run)

    def _no_run_text(self) -> str:
        count, newest = self._past
        if not count:
            return NO_RUN
        runs = "1 past run" if count == 1 else f"{count:,} past runs"
        about = f" (newest: {newest})" if newest else ""
        return f"No run this session; {runs} in the Runs tab below{about}."

    def _show_label(self, run: TrainingRun) -> None:
        if run.model_name is None:
            self._label.setText(self._no_run_text())
            return
        epochs = getattr(run.config, "epochs", None)
        # Between runs the form may show another model: say that this was the last run.
        parts = [f"{'' if run.active else 'Last run: '}Model {display_name(run.model_name)}", run.state]
        if run.epoch:
            parts.append(f"epoch {run.epoch}/{epochs}" if epochs else f"epoch {run.epoch}")
            if self._accuracy is not None:
                parts.append(f"test accuracy {self._accuracy:.3f}")
        if run.run_id:
            parts.append(f"run {run.run_id}")
        if run.message:
            parts.append(run.message)
        self._label.setText(" · ".join(parts))
