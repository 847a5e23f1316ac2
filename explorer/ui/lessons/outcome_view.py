"""An :class:`~explorer.lessons.base.Outcome` drawn on a lesson's page: the measured figures
beside the paper's, the verdict, the notes, the demonstration's tables and charts.

The view is rebuilt whole for each outcome (a page shows one at a time: the live one, the
shipped one, or a rerun beside it); until then it says why there is none yet.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from explorer.lessons.base import Outcome
from explorer.ui.lessons.chart import LessonChart
from explorer.ui.lessons.tables import figures_table, outcome_table
from explorer.ui.theme import secondary


def heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    return label


def paragraph(text: str, *, dim: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return secondary(label) if dim else label


def _image_widget(image: Any) -> QWidget | None:
    """An outcome's picture, when another helper's ``images`` field carries one: an object
    with a ``title`` and an HxW or HxWx3 uint8 array (``pixels``, ``rgb`` or ``array``)."""
    import numpy as np

    pixels = next((getattr(image, key) for key in ("pixels", "rgb", "array") if hasattr(image, key)), None)
    if pixels is None:
        return None
    array = np.ascontiguousarray(np.asarray(pixels))
    if array.dtype != np.uint8:
        low, high = float(array.min()), float(array.max())
        array = np.ascontiguousarray(((array - low) / ((high - low) or 1.0) * 255).astype(np.uint8))
    if array.ndim == 2:
        qimage = QImage(array.data, array.shape[1], array.shape[0], array.strides[0], QImage.Format.Format_Grayscale8)
    elif array.ndim == 3 and array.shape[2] == 3:
        qimage = QImage(array.data, array.shape[1], array.shape[0], array.strides[0], QImage.Format.Format_RGB888)
    else:
        return None
    pixmap = QPixmap.fromImage(qimage.copy())
    if pixmap.width() < 160:
        pixmap = pixmap.scaledToWidth(160, Qt.TransformationMode.FastTransformation)
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(heading(str(getattr(image, "title", ""))))
    label = QLabel()
    label.setPixmap(pixmap)
    column.addWidget(label)
    return box


class OutcomeView(QWidget):
    """What a lesson found, or a line saying why nothing is shown yet."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lesson-outcome")
        self._column = QVBoxLayout(self)
        self._column.setContentsMargins(0, 0, 0, 0)
        self._column.setSpacing(8)
        self.outcome: Outcome | None = None
        self.message = paragraph("")
        self.tables: list[QWidget] = []
        self.charts: list[LessonChart] = []
        self.verdict_label: QLabel | None = None
        self.set_message("measuring…")

    def _clear(self) -> None:
        while self._column.count():
            item = self._column.takeAt(0)
            widget = item.widget()
            if widget is not None and widget is not self.message:
                widget.deleteLater()
        self.tables, self.charts, self.verdict_label = [], [], None

    def set_message(self, text: str) -> None:
        """No outcome: only ``text`` ("measuring…", "no shipped result yet…")."""
        self._clear()
        self.outcome = None
        self.message.setText(text)
        self._column.addWidget(self.message)
        self.message.show()

    def set_outcome(self, outcome: Outcome, note: str = "") -> None:
        """Draw ``outcome``; ``note`` (which run this is) heads it."""
        self._clear()
        self.outcome = outcome
        column = self._column
        self.message.setText(note)
        column.addWidget(self.message)
        self.message.setVisible(bool(note))
        if outcome.figures:
            column.addWidget(heading("Measured here, beside the paper"))
            table = figures_table(outcome.figures)
            column.addWidget(table)
            self.tables.append(table)
        verdict = QFrame()
        verdict.setObjectName("lesson-verdict")
        verdict.setFrameShape(QFrame.Shape.StyledPanel)
        box = QVBoxLayout(verdict)
        box.setContentsMargins(10, 8, 10, 8)
        box.addWidget(heading("Verdict"))
        self.verdict_label = paragraph(outcome.verdict or "–")
        box.addWidget(self.verdict_label)
        column.addWidget(verdict)
        for note_text in outcome.notes:
            column.addWidget(paragraph(f"• {note_text}", dim=True))
        for table in outcome.tables:
            column.addWidget(heading(table.title))
            widget = outcome_table(table)
            column.addWidget(widget)
            self.tables.append(widget)
        for chart in outcome.charts:
            widget = LessonChart(chart)
            column.addWidget(widget)
            self.charts.append(widget)
        for image in getattr(outcome, "images", None) or ():
            widget = _image_widget(image)
            if widget is not None:
                column.addWidget(widget)
