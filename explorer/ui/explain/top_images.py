"""The Top images tab: the nine test images that excite the enlarged channel most, each
with the patch its strongest unit sees.

A view of the session (another model or weights drops the scan). The scan of the test
images (:func:`explorer.explain.top_grid.scan_test_images`, a generator) runs in a
:class:`~explorer.ui.background.LatestJob` with a progress bar, once per model and weights
(it is cached on disk too); it starts when the tab is shown for trained weights of a
small form. Switching node or channel only redraws the 3 x 3 grid from the scan.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from explorer.activations.predictions import class_names
from explorer.explain.top_grid import SCAN_IMAGES, TopScan, scan_test_images, top_grid
from explorer.explain.top_images import Progress
from explorer.session import Session
from explorer.ui.background import LatestJob
from explorer.ui.maps.views import ImagePane
from explorer.ui.subscriptions import Subscriptions

UNTRAINED = "Top images need trained weights: with random ones every channel's favourites are noise"


class TopImagesView(QWidget):
    """Progress of the scan, then the channel's top nine with their patches.

    Attributes:
        scan: the finished scan of the current model and weights, or None.
        shown: test-image indices in the grid now, best first.

    Signals:
        scan_ready(): ``scan`` is finished (the Unit page draws its channel's grid).
        scan_failed(str): the scan cannot be made (no test data, …): one line why.
    """

    scan_ready = Signal()
    scan_failed = Signal(str)

    def __init__(self, session: Session, data_root: str | Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.data_root = data_root
        self.scan: TopScan | None = None
        self.shown: list[int] = []
        self._unit: tuple[str, int] | None = None  # (node, channel) to show
        self._title = ""  # the node's shown name
        self._job = LatestJob("top images", self)
        self._job.progress.connect(self._on_progress)
        self._job.done.connect(self._on_done)
        self._job.failed.connect(self._on_failed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat(f"scanning %v of {SCAN_IMAGES} test images")
        self.progress_bar.hide()
        layout.addWidget(self.progress_bar)
        self.pane = ImagePane(min_size=100)
        layout.addWidget(self.pane, 1)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setMinimumHeight(self.caption.fontMetrics().lineSpacing() * 2 + 2)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.caption)
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.model_changed, self._on_model_changed)

    @property
    def busy(self) -> bool:
        return self._job.busy

    def show_channel(self, node: str | None, channel: int | None, title: str | None = None) -> None:
        """Show ``channel`` of ``node`` (the panel's enlarged channel) once scanned;
        ``title`` is the node's shown name (graph/titles.py) for the caption."""
        self._unit = (node, channel) if node is not None and channel is not None else None
        self._title = title or node or ""
        self._draw()

    def start_scan(self) -> None:
        """Scan the test images in the background now, shown or not (once per weights)."""
        self._start()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        self._subscriptions.clear()
        return self._job.stop(timeout_ms)

    def _start(self) -> None:
        session = self.session
        if self.scan is not None or self._job.busy or session.module is None:
            return
        if session.weights is None or not session.weights.trained:
            self.caption.setText(UNTRAINED)
            return
        self.progress_bar.setRange(0, SCAN_IMAGES)
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.caption.setText("scanning the test images in the background…")
        self._job.submit(scan_test_images, session.module, session.model_name,
                         str(self.data_root) if self.data_root else None)

    def _draw(self) -> None:
        scan, unit = self.scan, self._unit
        if scan is None or unit is None:
            return
        grid = top_grid(scan, *unit)
        if grid is None:
            self.pane.set_rgba(None)
            self.shown = []
            self.caption.setText(f"{self._title} has no spatial map: no top images")
            return
        picture, self.shown = grid
        self.pane.set_rgba(picture)
        names = class_names(10)
        labels = ", ".join(names[int(scan.labels[i])] for i in self.shown[:3])
        self.caption.setText(f"channel {unit[1]} of {self._title}: the {len(self.shown)} of {scan.result.n_images} "
                             f"test images it responds to most (best first: {labels}…); outlined: the "
                             "patch its strongest unit sees")

    def _on_model_changed(self, _session: Session, _change: str = "") -> None:
        self._job.cancel()
        self.scan = None
        self.shown = []
        self.pane.set_rgba(None)
        self.progress_bar.hide()
        self.caption.setText("")
        if self.isVisible():
            self._start()

    def _on_progress(self, _number: int, progress: Progress) -> None:
        self.progress_bar.setRange(0, progress.total)
        self.progress_bar.setValue(progress.done)

    def _on_done(self, _number: int, scan: TopScan) -> None:
        self.scan = scan
        self.progress_bar.hide()
        self._draw()
        self.scan_ready.emit()

    def _on_failed(self, _number: int, text: str) -> None:
        self.progress_bar.hide()
        self.caption.setText(text)
        self.scan_failed.emit(text)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._start()
