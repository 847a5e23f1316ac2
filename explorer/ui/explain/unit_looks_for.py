"""The Unit page's "What the unit looks for": where the unit looks on the input, its
channel's top nine test images (drawn from the Top images tab's scan, which its button
starts in the background), and the image that excites its channel most.

A view of the session fed by the Unit page (``show_unit``: the unit's node and channel, or
None when the page clears, which it does on any change of the session). The receptive
field is the field tracer's (:class:`~explorer.ui.explain.field_tracer.FieldTracer`, the
same core :func:`~explorer.explain.unit_field.trace_unit`), drawn as a box on a small copy
of the input. The optimal stimulus is :func:`~explorer.explain.feature_vis.feature_vis`
run in a :class:`~explorer.ui.background.LatestJob` on a copy of the model (the stepper
may run the original meanwhile): a progress bar and the image update with every step, a
cache hit shows at once, and clearing the unit cancels it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from explorer.explain.feature_vis import FeatureVis, Progress, Settings, feature_vis
from explorer.explain.unit_field import UnitField
from explorer.session import Session
from explorer.ui.background import LatestJob
from explorer.ui.explain.unit_pictures import text_label

SIDE = 128  # the pictures' side in pixels
DEAD = "this channel barely responds to any input (dead or constant)"
FIELD_WAIT = "the receptive field is being traced…"


def is_dead(start: float, end: float) -> bool:
    """True when optimising moved the objective by almost nothing."""
    return abs(end - start) <= 1e-3 * max(1.0, abs(start), abs(end))


def pixmap(image: np.ndarray, box: tuple[int, int, int, int] | None = None, side: int = SIDE) -> QPixmap:
    """``image`` (H x W or H x W x 3 uint8) scaled to ``side`` with nearest pixels, with
    ``box`` (top, left, bottom, right inclusive, input pixels) outlined in cyan."""
    array = np.ascontiguousarray(image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2))
    height, width = array.shape[:2]
    picture = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    scale = side / max(height, width)
    out = QPixmap.fromImage(picture).scaled(round(width * scale), round(height * scale),
                                            Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation)
    if box is not None:
        top, left, bottom, right = box
        painter = QPainter(out)
        pen = QPen(QColor(0, 220, 255))
        pen.setWidth(2)
        painter.setPen(pen)
        painter.drawRect(QRectF(left * scale + 1, top * scale + 1, (right - left + 1) * scale - 2,
                                (bottom - top + 1) * scale - 2))
        painter.end()
    return out



class LooksForView(QGroupBox):
    """The unit's field on the input, its top test images, its optimal stimulus.

    Attributes:
        unit: (node, channel) shown, or None.
        field: the field box drawn (the tracer's :class:`UnitField`), or None.
        vis: the finished feature visualisation of ``unit``, or None.
        settings: how :func:`feature_vis` optimises (None: its defaults).
    """

    def __init__(self, session: Session, top_images: Callable[[], str | None],
                 start_top_scan: Callable[[], None],
                 top_grid: Callable[[str, int], np.ndarray | str | None],
                 parent: QWidget | None = None) -> None:
        """``top_images``: why the model has no top images (None: it can have them);
        ``start_top_scan``: start the Top images tab's scan in the background;
        ``top_grid(node, channel)``: the channel's 3 x 3 grid (H, W, 4 uint8) from that
        scan, a line saying why there is none, or None while nothing is scanned."""
        super().__init__("What the unit looks for", parent)
        self.session = session
        self._start_top_scan = start_top_scan
        self._top_grid = top_grid
        self.unit: tuple[str, int] | None = None
        self.field: UnitField | None = None
        self.vis: FeatureVis | None = None
        self.settings: Settings | None = None
        self._top_images = top_images
        self._job = LatestJob("feature visualisation", self)
        self._job.progress.connect(self._on_progress)
        self._job.done.connect(self._on_done)
        self._job.failed.connect(self._on_failed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        # Two pictures side by side, each with a caption; the words under them (beside
        # them the section was wider than the page at 1440 px, and the words ran off it).
        row = QHBoxLayout()
        pictures = []
        for caption in ("the input: the cyan box is\nthe patch this unit sees", "its optimal stimulus:\nthe image it likes most"):
            column = QVBoxLayout()
            picture = QLabel()
            picture.setFixedSize(SIDE, SIDE)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            picture.setStyleSheet("background: #202020;")
            column.addWidget(picture)
            column.addWidget(QLabel(caption))
            column.addStretch(1)
            row.addLayout(column)
            pictures.append(picture)
        self.field_picture, self.vis_picture = pictures
        words = QVBoxLayout()
        self.field_label = text_label("")
        words.addWidget(self.field_label)
        self.vis_button = QPushButton("Visualise channel")
        self.vis_button.setToolTip("Optimise an image to excite this channel (Olah et al. 2017); cached")
        self.vis_button.clicked.connect(self.visualise)
        words.addWidget(self.vis_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("step %v of %m")
        self.progress_bar.hide()
        words.addWidget(self.progress_bar)
        self.vis_label = text_label("")
        # Room for three lines: a wrapped label in the scrolled page was cut to one.
        self.vis_label.setMinimumHeight(self.vis_label.fontMetrics().lineSpacing() * 3 + 4)
        self.field_label.setMinimumHeight(self.field_label.fontMetrics().lineSpacing() * 2 + 4)
        words.addWidget(self.vis_label)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addLayout(words)
        top_row = QHBoxLayout()
        self.top_picture = QLabel()
        self.top_picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.top_picture.hide()
        top_row.addWidget(self.top_picture, 0, Qt.AlignmentFlag.AlignTop)
        self.top_label = text_label("")
        top_row.addWidget(self.top_label, 1)
        self.top_button = QPushButton("Find top images")
        self.top_button.setToolTip("Scan the test images in the background and show this channel's top nine")
        self.top_button.clicked.connect(self.find_top_images)
        top_row.addWidget(self.top_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top_row)
        self.clear()

    # ============================================================== public API

    @property
    def busy(self) -> bool:
        return self._job.busy

    def show_unit(self, unit: tuple[str, int] | None) -> None:
        """Show what ``unit`` (node, channel) looks for; None: clear (and cancel)."""
        if unit is None or unit != self.unit:
            self.clear()
        self.setVisible(unit is not None)
        if unit is None:
            return
        self.unit = unit
        self.field_label.setText(FIELD_WAIT)
        self.vis_button.setEnabled(True)
        self.vis_label.setText(f"Press the button to optimise an image that excites channel {unit[1]} "
                               f"of {unit[0]} as much as possible (a few seconds, in the background).")
        self.show_top_images()

    def show_top_images(self) -> None:
        """Draw the unit's channel's top nine test images from the finished scan, or say
        why there are none, or offer the button that starts the scan."""
        self.top_picture.clear()
        self.top_picture.hide()
        self.top_button.hide()
        if self.unit is None:
            return
        reason = self._top_images()
        if reason is not None:
            self.top_label.setText(reason)
            return
        grid = self._top_grid(*self.unit)
        if grid is None:  # not scanned yet (or the scan is running)
            self.top_label.setText("Its top test images, the nine that excite this channel most: press the "
                                   "button to scan the test set in the background (also in the Top images tab).")
            self.top_button.setEnabled(True)
            self.top_button.show()
        elif isinstance(grid, str):
            self.top_label.setText(grid)
        else:
            self.top_picture.setPixmap(pixmap(grid[:, :, :3], side=SIDE))
            self.top_picture.show()
            self.top_label.setText(f"Its top test images: the nine that excite channel {self.unit[1]} most, best "
                                   "first; outlined: the patch its strongest unit sees (also in the Top images tab).")

    def top_images_failed(self, text: str) -> None:
        """The scan failed (the walk: no test data left the page saying "scanning…" for
        good): say why, whole, and let the user try again."""
        if self.unit is None:
            return
        self.top_label.setText(f"No top test images: {text}")
        self.top_button.setEnabled(True)
        self.top_button.show()

    def find_top_images(self) -> None:
        """Start the scan of the test images in the background; the grid comes when it ends."""
        if self.unit is None:
            return
        self.top_button.setEnabled(False)
        self.top_label.setText("scanning the test images in the background…")
        self._start_top_scan()

    def show_field(self, field: UnitField | None) -> None:
        """Draw the traced unit's receptive field on the input (None: forget it)."""
        self.field = field
        if field is None or self.unit is None:
            self.field_picture.clear()
            return
        box = field.box
        self.field_picture.setPixmap(pixmap(field.display, box.clipped))
        (height, width) = (box.bottom - box.top + 1, box.right - box.left + 1)
        image_h, image_w = field.display.shape[:2]
        if box.clipped == (0, 0, image_h - 1, image_w - 1) and sum(box.padding):
            text = (f"Receptive field {height}×{width} px: larger than the {image_h}×{image_w} input, "
                    "so this unit sees all of it (the rest is padding).")
        else:
            text = f"Receptive field {height}×{width} px of the {image_h}×{image_w} input (cyan box)"
            text += " (part of it in the padding)." if sum(box.padding) else "."
        self.field_label.setText(text)
        self.field_label.setToolTip(field.summary())

    def visualise(self) -> None:
        """Optimise an image for the unit's channel in the background (a cache hit: at once)."""
        loaded = self.session.loaded
        if self.unit is None or loaded is None:
            return
        node, channel = self.unit
        self.vis = None
        self.vis_button.setEnabled(False)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.vis_label.setText("optimising…")
        self._job.submit(_visualise, loaded.module, self.session.model_name, node, channel,
                         self.settings, loaded.input_spec)

    def clear(self) -> None:
        self._job.cancel()
        self.unit = None
        self.field = None
        self.vis = None
        self.field_picture.clear()
        self.vis_picture.clear()
        self.field_label.setText("")
        self.vis_label.setText("")
        self.top_label.setText("")
        self.top_picture.clear()
        self.top_picture.hide()
        self.top_button.hide()
        self.progress_bar.hide()
        self.vis_button.setEnabled(False)
        self.hide()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        return self._job.stop(timeout_ms)

    # ================================================================ answers

    def _on_progress(self, _number: int, step: Progress) -> None:
        self.progress_bar.setRange(0, step.total)
        self.progress_bar.setValue(step.step)
        self.vis_picture.setPixmap(pixmap(step.image))
        if not step.cached:
            self.vis_label.setText(f"optimising… objective {step.value:.3g}")

    def _on_done(self, _number: int, vis: FeatureVis) -> None:
        self.vis = vis
        self.progress_bar.hide()
        self.vis_button.setEnabled(True)
        self.vis_picture.setPixmap(pixmap(vis.image))
        text = (f"Objective (channel {vis.channel}'s mean activation): {vis.start:.3g} on the grey start → "
                f"{vis.end:.3g} after {vis.steps} steps" + (" (cached)" if vis.cached else f" ({vis.seconds:.1f} s)"))
        if is_dead(vis.start, vis.end):
            text += f"\n{DEAD}"
        self.vis_label.setText(text)

    def _on_failed(self, _number: int, text: str) -> None:
        self.progress_bar.hide()
        self.vis_button.setEnabled(True)
        self.vis_label.setText(text)


def _visualise(module, model_name: str, node: str, channel: int, settings: Settings | None, spec):
    """:func:`feature_vis` on a copy of ``module`` (the stepper may run the original)."""
    model = copy.deepcopy(module)
    return (yield from feature_vis(model, model_name, node, channel, settings=settings, spec=spec))
