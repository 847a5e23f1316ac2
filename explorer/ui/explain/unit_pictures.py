"""Small static pictures of the Unit tab: a few numbers as a heatmap (a convolution's patch
and kernel slice, a pool's window) and labelled bars (the strongest contributions)."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

from explorer.activations.mosaic import colorize
from explorer.explain.units.base import fmt


def heatmap(values: np.ndarray, padding: np.ndarray | None = None, mark: tuple[int, int] | None = None,
            side: int = 132) -> QPixmap:
    """A small (rows, cols) array as a blue-white-red picture centred on zero, cells in the
    padding hatched grey, ``mark`` (row, col) outlined, numbers written when cells are big."""
    values = np.asarray(values, dtype=np.float64)
    rows, cols = values.shape
    cell = max(4, min(40, side // max(rows, cols, 1)))
    finite = values[np.isfinite(values)]
    top = float(np.abs(finite).max()) if finite.size else 0.0
    scaled = 0.5 + 0.5 * values / top if top > 0 else np.full(values.shape, 0.5)
    rgba = np.ascontiguousarray(colorize(scaled, "coolwarm", background=(200, 200, 200, 255)))
    image = QImage(rgba.data, cols, rows, cols * 4, QImage.Format.Format_RGBA8888).copy()
    pixmap = QPixmap(cols * cell + 1, rows * cell + 1)
    pixmap.fill(QColor(255, 255, 255))
    painter = QPainter(pixmap)
    painter.drawImage(QRectF(0, 0, cols * cell, rows * cell), image)
    painter.setPen(QPen(QColor(120, 120, 120), 0))
    if padding is not None:
        painter.setBrush(QColor(170, 170, 170))
        for r, c in zip(*np.nonzero(np.asarray(padding))):
            painter.fillRect(int(c) * cell, int(r) * cell, cell, cell, Qt.BrushStyle.BDiagPattern)
    if cell >= 28:
        font = QFont()
        font.setPixelSize(max(7, min(11, cell // 4)))
        painter.setFont(font)
        painter.setPen(QColor(0, 0, 0))
        for r in range(rows):
            for c in range(cols):
                if math.isfinite(values[r, c]):
                    painter.drawText(QRectF(c * cell, r * cell, cell, cell), Qt.AlignmentFlag.AlignCenter,
                                     f"{values[r, c]:.2g}")
    painter.setPen(QPen(QColor(0, 0, 0), 1))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(0, 0, cols * cell, rows * cell)
    if mark is not None:
        painter.setPen(QPen(QColor(0, 200, 0), 3))
        painter.drawRect(mark[1] * cell + 1, mark[0] * cell + 1, cell - 2, cell - 2)
    painter.end()
    return pixmap


def bars(rows: list[tuple[str, float]], width: int = 320) -> QPixmap:
    """Labelled horizontal bars (label left, value right), positive red, negative blue."""
    height = 16
    pixmap = QPixmap(width, height * len(rows) + 2)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    font = QFont()
    font.setPixelSize(11)
    painter.setFont(font)
    label_w, value_w = int(width * 0.38), 72
    bar_w = width - label_w - value_w - 8
    top = max((abs(v) for _, v in rows if math.isfinite(v)), default=0.0) or 1.0
    zero = label_w + 4 + bar_w // 2 if any(v < 0 for _, v in rows) else label_w + 4
    span = bar_w // 2 if zero != label_w + 4 else bar_w
    ink = QApplication.palette().color(QPalette.ColorRole.WindowText)  # light or dark theme
    for i, (label, value) in enumerate(rows):
        y = i * height + 1
        painter.setPen(ink)
        painter.drawText(QRectF(0, y, label_w, height), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         painter.fontMetrics().elidedText(label, Qt.TextElideMode.ElideMiddle, label_w))
        length = int(span * abs(value) / top) if math.isfinite(value) else 0
        colour = QColor(200, 70, 60) if value >= 0 else QColor(60, 100, 200)
        left = zero if value >= 0 else zero - length
        painter.fillRect(left, y + 3, max(length, 1), height - 6, colour)
        painter.setPen(ink)
        painter.drawText(QRectF(width - value_w, y, value_w, height),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, fmt(value))
    painter.end()
    return pixmap


def picture(pixmap: QPixmap, caption: str) -> QWidget:
    """``pixmap`` with ``caption`` wrapped under it."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(1)
    shown = QLabel()
    shown.setPixmap(pixmap)
    layout.addWidget(shown, 0, Qt.AlignmentFlag.AlignLeft)
    text = QLabel(caption)  # one short line: a wrapped label is squeezed in a row of pictures
    layout.addWidget(text, 0, Qt.AlignmentFlag.AlignLeft)
    return box


def text_label(line: str = "") -> QLabel:
    """A word-wrapped label whose text can be selected and copied."""
    label = QLabel(line)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
