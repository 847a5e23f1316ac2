"""The time machine: scrub a run's epochs and watch the current image go through each.

Over 400 lines because the scrubber, the replay job and the linked plots share one epoch
state, and each of them must show the same epoch.

An epoch scrubber (slider; Left/Right/Home/End) picks one of the run's kept epochs; the
view replays it for the session's current image (``explorer.explain.replay``, off the GUI
thread): the feature maps at the session's node (the first convolution's output when the
node is not in the run's model), the first convolution's kernels and the top-5. Beside
them: per-layer histograms and metrics over epochs, and the test confusion matrix at the
epoch, where a click on a cell lists the test images in it.

During a run the scrubber's range grows as epochs finish and it follows the newest epoch,
unless the user moved it away; moving it back to the newest follows again. The explorer's
own weights are left alone: "Open epoch in explorer" shows the epoch there on request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from explorer.errors import UserError
from explorer.session import Session, TrainingRun, WeightsChoice
from explorer.train.records import TEST_ACC
from explorer.ui.background import LatestJob
from explorer.ui.maps.details import PredictionBox
from explorer.ui.maps.views import ImagePane
from explorer.ui.subscriptions import Subscriptions
from explorer.ui.training.time_machine_plots import LayerHistory
from explorer.ui.training.views import SHORT_NAMES, ConfusionMatrixView, MisclassifiedGrid

NO_RUN = "Time machine: pick a run in the runs table, or start one."
NO_IMAGE = "Time machine: choose an image in the Explorer tab to replay it through the epochs."
CELL_HINT = "Click a cell of the confusion matrix to see its test images"


def _load(checkpoint: str, replay: Any) -> Iterator[tuple[Any, list[int], dict[int, dict]]]:
    """The run's replay (built when ``replay`` is None), its kept epochs and summaries; the
    kept epochs' weights are read into memory after, so that scrubbing never waits on a file."""
    from explorer.explain.replay import EpochReplay

    if replay is None:
        replay = EpochReplay(checkpoint)
    epochs, summaries = replay.epochs(), replay.store.summaries()
    yield replay, epochs, summaries
    for epoch in epochs:
        yield None  # where a newer request (another run shown) stops the preload
        replay.preload([epoch])


class TimeMachineView(QWidget):
    """Scrubber, replayed maps/kernels/top-5, layer history and the epoch's confusion matrix.

    Args:
        session: the explorer's session (its image and node; the run being trained).
        data_dir: a callable giving the folder with Fashion-MNIST (cell thumbnails).

    Signals:
        frame_shown(int): an epoch's maps, kernels and top-5 are on screen.
        loaded(): the run's epochs and summaries are in (after ``show_run`` or an epoch).
    """

    frame_shown = Signal(int)
    loaded = Signal()

    def __init__(self, session: Session, data_dir=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session, self._data_dir = session, data_dir or (lambda: None)
        self._checkpoint: str | None = None
        self._run_id: str | None = None
        self._replay: Any = None
        self._epochs: list[int] = []
        self._newest, self._follow = 0, True  # the newest epoch recorded (kept or not); follow it
        self._record: dict | None = None
        self._test_images: Any = None
        self.cell: tuple[int, int] | None = None  # the clicked confusion cell, and its test images
        self.cell_indices: list[int] = []
        self.last_redraw_ms: float | None = None  # asked -> maps, kernels and top-5 drawn
        self.last_frame_epoch: int | None = None
        self._asked_at, self._name = 0.0, ""
        self._loader = LatestJob("time machine load", self)
        self._loader.progress.connect(self._on_loaded)  # yielded before the weights preload
        self._loader.failed.connect(self._on_failed)
        self._frames = LatestJob("time machine replay", self)
        self._frames.done.connect(self._on_frame)
        self._frames.failed.connect(self._on_failed)
        self._build()
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.image_changed, self._on_image_or_node)
        self._subscriptions.connect(session.node_changed, self._on_image_or_node)
        self._subscriptions.connect(session.training.changed, self._on_run_changed)
        self._subscriptions.connect(session.training.epoch_finished, self._on_run_epoch)

    def _build(self) -> None:
        column = QVBoxLayout(self)
        column.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        self.title = QLabel(NO_RUN, objectName="tm_title")
        self.title.setStyleSheet("font-weight: bold;")
        row.addWidget(self.title, 1)
        self.open_button = QPushButton("Open epoch in explorer", objectName="tm_open")
        self.open_button.setToolTip("Show the run's model with this epoch's weights in the Explorer tab "
                                    "(the weights menu there goes back to the previous choice)")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_in_explorer)
        row.addWidget(self.open_button)
        column.addLayout(row)
        scrub = QHBoxLayout()
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="tm_slider")
        self.slider.setToolTip("Scrub the run's epochs (Left/Right, Home/End)")
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._on_slider)
        scrub.addWidget(self.slider, 1)
        self.epoch_label = QLabel("epoch – / –", objectName="tm_epoch")
        self.epoch_label.setMinimumWidth(self.epoch_label.fontMetrics().horizontalAdvance("epoch 888 / 888") + 8)
        scrub.addWidget(self.epoch_label)
        column.addLayout(scrub)

        replay = QWidget()
        grid = QHBoxLayout(replay)
        grid.setContentsMargins(0, 0, 0, 0)
        self.maps = ImagePane(title="Feature maps", min_size=120)
        self.kernels = ImagePane(title="First layer's kernels", min_size=90)
        self.top5 = PredictionBox()
        self.top5.setMinimumWidth(150)
        grid.addWidget(self.maps, 3)
        grid.addWidget(self.kernels, 2)
        grid.addWidget(self.top5, 2)
        self.maps_label = QLabel("", objectName="tm_maps_label")
        self.maps_label.setWordWrap(True)

        self.history = LayerHistory()
        self.history.setMinimumWidth(220)
        self.confusion = ConfusionMatrixView()
        self.confusion.setMinimumSize(220, 220)
        self.confusion.cell_clicked.connect(self.show_cell)
        self.cell_images = MisclassifiedGrid()
        self.cell_images.setMinimumSize(140, 200)
        self.cell_images.fit_height = True
        self.cell_images.clear(CELL_HINT)
        cell_scroll = QScrollArea()
        cell_scroll.setWidgetResizable(True)
        cell_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        cell_scroll.setFrameShape(QFrame.Shape.NoFrame)
        cell_scroll.setWidget(self.cell_images)
        left = QWidget()
        left_column = QVBoxLayout(left)
        left_column.setContentsMargins(0, 0, 0, 0)
        left_column.addWidget(replay, 3)
        left_column.addWidget(self.maps_label)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.confusion)
        lower.addWidget(cell_scroll)
        left_column.addWidget(lower, 4)
        self._body = body = QSplitter(Qt.Orientation.Horizontal)  # vertical when narrow: resizeEvent
        self._body_sized = False
        body.addWidget(left)
        body.addWidget(self.history)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)
        column.addWidget(body, 1)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # Beside the recipe form (~650 px in a 1440 px window) the plots would be cut: below 900 px they
        super().resizeEvent(event)  # go under the replay, tall enough to read, and the page scrolls down
        narrow = self.width() < 900
        orientation = Qt.Orientation.Vertical if narrow else Qt.Orientation.Horizontal
        if orientation != self._body.orientation() or not self._body_sized:
            self._body.setOrientation(orientation)
            if not narrow:  # the split follows the stretch (3:2), not the replay's wide size hint,
                # which left the plots ~230 px, narrower than their titles, cut off on the right
                self._body.setSizes([self.width() * 3 // 5, self.width() * 2 // 5])
            self._body_sized = True
        self.history.setMinimumHeight(480 if narrow else 0)

    # ----- which run ---------------------------------------------------------------------

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def epochs(self) -> list[int]:
        """The kept epochs the scrubber steps through."""
        return list(self._epochs)

    @property
    def epoch(self) -> int | None:
        """The epoch the scrubber is on."""
        return self._epochs[self.slider.value()] if self._epochs else None

    @property
    def following(self) -> bool:
        return self._follow

    @property
    def busy(self) -> bool:
        return self._loader.busy or self._frames.busy

    def show_run(self, checkpoint: str | None, run_id: str | None, name: str = "") -> None:
        """Scrub another run (None: none); its epochs load in the background."""
        if checkpoint == self._checkpoint and run_id == self._run_id:
            return
        self._checkpoint, self._run_id = checkpoint, run_id
        self._replay = None
        self._epochs = []
        self._newest = 0
        self._follow = True
        self._record = None
        self._frames.cancel()
        self.slider.blockSignals(True)
        self.slider.setRange(0, 0)
        self.slider.blockSignals(False)
        self.slider.setEnabled(False)
        self.open_button.setEnabled(False)
        self.history.clear()
        self.last_frame_epoch = None
        self.maps.set_rgba(None)
        self.kernels.set_rgba(None)
        self.top5.clear()
        self.confusion.clear("Confusion matrix (test) at the scrubbed epoch")
        self._clear_cell()
        self._name = name or run_id or ""
        self._loader.cancel()  # stops the previous run's preload
        if checkpoint is None or not Path(checkpoint).is_file():
            live = self._session.training
            if checkpoint is not None and live.active and live.checkpoint == checkpoint:
                # The run being trained writes its checkpoint at its first epoch.
                self.title.setText(f"Time machine: {self._name}, waiting for the first epoch…")
            else:
                self.title.setText(NO_RUN if checkpoint is None else f"Time machine: {checkpoint} is gone")
            return
        self.title.setText(f"Time machine: {self._name}, loading…")
        self._loader.submit(_load, checkpoint, None)

    def _on_loaded(self, _number: int, result: tuple | None) -> None:
        if result is None:
            return  # preloading
        replay, epochs, summaries = result
        if replay.checkpoint != self._checkpoint:
            return
        self._replay = replay
        if summaries:
            self._newest = max(self._newest, max(summaries))
        self._newest = max([self._newest, *epochs])
        old = self.epoch
        self._epochs = epochs
        self.history.set_summaries(summaries)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(epochs) - 1))
        if epochs:
            wanted = epochs[-1] if self._follow or old not in epochs else old
            self.slider.setValue(epochs.index(wanted))
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(epochs) > 1)
        kept = f"{len(epochs)} epochs kept" if epochs else "no epoch weights kept"
        damaged = sorted(replay.store.damaged)
        if damaged:
            kept += f" · damaged summary of epoch {', '.join(map(str, damaged))} skipped"
        self.title.setText(f"Time machine: {self._name} · {kept}")
        self.loaded.emit()
        if epochs and (self.epoch != old or self._record is None):
            self._ask()
        elif epochs:
            self._show_label()

    def _on_failed(self, _number: int, text: str) -> None:
        self.maps_label.setText(text)
        self._session.notify(text)

    def _on_run_changed(self, run: TrainingRun) -> None:
        # A new run (or a resumed one) is what a user scrubs while it trains.
        if run.active and run.checkpoint and run.checkpoint != self._checkpoint:
            self.show_run(run.checkpoint, run.run_id, f"{run.model_name} (this run)")

    def _on_run_epoch(self, run: TrainingRun, _metrics: Any) -> None:
        if run.checkpoint == self._checkpoint:
            self._newest = max(self._newest, run.epoch)
            # Read the kept epochs and summaries again (the replay is built on the first).
            self._loader.submit(_load, self._checkpoint, self._replay)

    # ----- scrubbing ---------------------------------------------------------------------
    def _on_slider(self, _value: int) -> None:
        # Moved by the user (programmatic moves block the signal): follow only at the newest.
        self._follow = self.slider.value() == self.slider.maximum()
        self._ask()

    def _on_image_or_node(self, _session: Session) -> None:
        self._ask()

    def _ask(self) -> None:
        self._show_label()
        epoch = self.epoch
        if self._replay is None or epoch is None:
            return
        image = self._session.image
        if image is None and self._test_set() is not None and len(self._test_images):
            image = self._test_images.load(0)  # until the explorer has an image
        if image is None:
            self.maps_label.setText(NO_IMAGE)
            return
        self._asked_at = time.perf_counter()
        self._frames.submit(self._replay.frame_and_record, epoch, image, self._session.node)

    def _show_label(self) -> None:
        epoch = self.epoch
        self.epoch_label.setText(f"epoch {epoch} / {self._newest}" if epoch is not None else "epoch – / –")
        self.history.mark_epoch(epoch)
        self.open_button.setEnabled(epoch is not None and self._checkpoint is not None)

    def _on_frame(self, _number: int, result: tuple) -> None:
        frame, record = result
        if frame.epoch != self.epoch:
            return  # the scrubber moved on; its own request follows
        view = frame.view
        self.maps.set_rgba(view.rgba)
        self.kernels.set_rgba(frame.kernels.rgba if frame.kernels is not None else None)
        self.top5.show_predictions(frame.predictions, frame.display)
        shape = "×".join(str(s) for s in view.shape[1:]) if view.shape else ""
        kernels = f"; kernels of {frame.kernels_of}: {frame.kernels.note}" if frame.kernels is not None else ""
        self.maps_label.setText(f"Epoch {frame.epoch}: maps at {view.record.title} ({view.record.kind}"
                                f"{', ' + shape if shape else ''}){kernels}")
        self._record = record
        if record is not None and record.get("confusion"):
            self.confusion.set_matrix(record["confusion"], frame.epoch)
        else:
            damaged = self._replay.store.damaged if self._replay is not None else {}
            self.confusion.clear(f"No test results for epoch {frame.epoch} (the starting weights)"
                                 if frame.epoch == 0 else
                                 f"Epoch {frame.epoch}'s summary is damaged; skipped" if frame.epoch in damaged else "")
        if self.cell is not None:
            self.show_cell(*self.cell)
        self.last_redraw_ms = (time.perf_counter() - self._asked_at) * 1000
        self.last_frame_epoch = frame.epoch
        self.frame_shown.emit(frame.epoch)

    # ----- confusion matrix cells --------------------------------------------------------

    def _clear_cell(self) -> None:
        self.cell = None
        self.cell_indices = []
        self.cell_images.clear(CELL_HINT)

    def show_cell(self, true_class: int, predicted: int) -> None:
        """List the test images of one confusion-matrix cell at the scrubbed epoch."""
        record = self._record
        if record is None:
            return
        self.cell = (true_class, predicted)
        pairs = zip(record["labels"], record["predictions"], strict=True)
        self.cell_indices = [i for i, (t, p) in enumerate(pairs) if t == true_class and p == predicted]
        heading = (f"Epoch {record['epoch']}: {len(self.cell_indices)} test images of {SHORT_NAMES[true_class]} "
                   f"predicted {SHORT_NAMES[predicted]}")
        images = self._thumbnails(self.cell_indices)
        if images is None:
            self.cell_images.clear(f"{heading} (no Fashion-MNIST test images in the data folder to show)")
            return
        n = len(images)
        self.cell_images.set_items(images, [predicted] * n, [true_class] * n, record["epoch"],
                                   title=heading + (f" (first {n})" if n < len(self.cell_indices) else ""))

    def _test_set(self) -> Any:
        from explorer import settings
        from explorer.activations.samples import FashionTestImages

        if self._test_images is None:
            try:
                self._test_images = FashionTestImages(settings.data_dir(self._data_dir()))
            except UserError:
                return None
        return self._test_images

    def _thumbnails(self, indices: list[int], most: int = 200) -> np.ndarray | None:
        if self._test_set() is None:
            return None
        shown = indices[:most]
        return np.stack([np.asarray(self._test_images.load(i).image.convert("L")) for i in shown]) if shown else \
            np.zeros((0, 28, 28), np.uint8)

    # ----- the explorer ------------------------------------------------------------------

    def open_in_explorer(self) -> None:
        """Show the run's model with the scrubbed epoch's weights in the explorer."""
        epoch = self.epoch
        if epoch is None or self._replay is None or self._checkpoint is None:
            return
        accuracy = self._record.get(TEST_ACC) if self._record else None
        weights = WeightsChoice("run", path=self._checkpoint, run_id=self._run_id, epoch=epoch,
                                test_accuracy=float(accuracy) if isinstance(accuracy, (int, float)) else None)
        self._session.set_model(self._replay.model_name, weights)
        self._session.notify(f"{self._replay.model_name}: weights of {weights.label()}")

    def close_view(self) -> None:
        self._subscriptions.clear()
        self._loader.stop()
        self._frames.stop()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.close_view()
        super().closeEvent(event)
