"""Per-epoch views of the training panel: the confusion matrix and misclassified images.

Both are painted directly (one ``paintEvent`` each) rather than built from hundreds of
child widgets, so updating them after an epoch costs one repaint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

EMPTY_CONFUSION = "Confusion matrix (test): shown after the first epoch"
EMPTY_MISTAKES = "Misclassified test images: shown after the first epoch"
SHORT_NAMES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")


class ConfusionMatrixView(QWidget):
    """A 10x10 grid: row = true class, column = predicted class, cell = count.

    Cells are shaded by the share of the row (so every class reads alike however many
    test images it has); the diagonal is shaded in a second colour.

    Signals:
        cell_clicked(int, int): a click on a cell (true class, predicted class).
    """

    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._matrix: np.ndarray | None = None
        self._grid: tuple[int, int, int] | None = None  # left, top, cell size of the last paint
        self._title = EMPTY_CONFUSION
        self.setMinimumSize(QSize(220, 200))  # two side by side still fit a 1024 px window
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_matrix(self, matrix: Sequence[Sequence[int]], epoch: int | None = None) -> None:
        self._matrix = np.asarray(matrix, dtype=np.int64).reshape(10, 10)
        total = int(self._matrix.sum())
        acc = np.trace(self._matrix) / total if total else 0.0
        self._title = f"Confusion matrix (test), epoch {epoch}: accuracy {acc:.3f}" if epoch else "Confusion matrix"
        self.update()

    def clear(self, title: str = "") -> None:
        """Show only ``title`` (a run is loading, or no epoch of this model yet)."""
        self._matrix = None
        self._title = title or EMPTY_CONFUSION
        self.update()

    def matrix(self) -> np.ndarray | None:
        """The counts shown, or None in the empty state."""
        return None if self._matrix is None else self._matrix.copy()

    @property
    def title(self) -> str:
        return self._title

    def set_title(self, title: str) -> None:
        self._title = title
        self.update()

    def cell_center(self, true_class: int, predicted: int) -> QPoint:
        """Where cell (true, predicted) is drawn (a shown widget has been painted)."""
        left, top, cell = self._grid or self._layout()
        return QPoint(left + predicted * cell + cell // 2, top + true_class * cell + cell // 2)

    def _layout(self) -> tuple[int, int, int]:
        """Left, top and cell size of the grid at the current size and font."""
        metrics = self.fontMetrics()
        title_h = metrics.height() + 6
        label_w = max(metrics.horizontalAdvance(n) for n in SHORT_NAMES) + 8
        axis_h = metrics.height() + 4
        avail_w = self.width() - label_w - 4
        avail_h = self.height() - title_h - axis_h * 2 - 4
        cell = max(8, min(avail_w, avail_h) // 10)
        return label_w + max(0, (avail_w - cell * 10) // 2), title_h + axis_h, cell

    def texts(self) -> dict[str, tuple[QRect, str]]:
        """Where the title and the axis label are drawn, and the words that fit there.

        Each is centred on the grid (the title on the widget) but never narrower than its
        words and never outside the widget: in a narrow column (the time machine's) the
        grid is ~150 px and the axis label, drawn in the grid's width, lost both ends. Where
        even the widget is too narrow, a shorter wording is used."""
        metrics = self.fontMetrics()
        title_h = metrics.height() + 6
        axis_h = metrics.height() + 4
        left, top, cell = self._layout()
        width = self.width()

        def fit(wordings: tuple[str, ...], centre: int, y: int, height: int) -> tuple[QRect, str]:
            text = next((w for w in wordings if metrics.horizontalAdvance(w) + 4 <= width), wordings[-1])
            need = min(width, metrics.horizontalAdvance(text) + 4)
            x = min(max(0, centre - need // 2), width - need)
            return QRect(x, y, need, height), text

        title = self._title
        short_title = title.replace("Confusion matrix (test), epoch", "Epoch").replace("accuracy", "acc.")
        return {
            "title": fit((title, short_title), width // 2, 0, title_h),
            "axis": fit(("predicted class (0-9 as the rows) →", "predicted (0-9 as rows) →", "predicted →"),
                        left + cell * 5, top + 10 * cell + 2, axis_h),
        }

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._matrix is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        left, top, cell = self._layout()
        pos = event.position().toPoint()
        col, row = (pos.x() - left) // cell, (pos.y() - top) // cell
        if 0 <= row < 10 and 0 <= col < 10 and pos.x() >= left and pos.y() >= top:
            self.cell_clicked.emit(int(row), int(col))
        event.accept()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        pal = self.palette()
        text_color = pal.color(QPalette.ColorRole.WindowText)
        base = pal.color(QPalette.ColorRole.Base)
        font = QFont(self.font())
        metrics = painter.fontMetrics()
        painter.setPen(text_color)
        if self._matrix is None:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._title)
            painter.end()
            return
        texts = self.texts()
        painter.drawText(texts["title"][0], Qt.AlignmentFlag.AlignCenter, texts["title"][1])

        label_w = max(metrics.horizontalAdvance(n) for n in SHORT_NAMES) + 8
        axis_h = metrics.height() + 4
        left, top, cell = self._layout()
        self._grid = (left, top, cell)

        rows = self._matrix.sum(axis=1, keepdims=True).clip(min=1)
        share = self._matrix / rows
        off_diag = QColor(214, 72, 58)
        diag = QColor(46, 125, 200)
        small = QFont(font)
        small.setPointSizeF(max(6.0, font.pointSizeF() * (0.85 if cell >= 28 else 0.7)))
        for i in range(10):
            for j in range(10):
                color = diag if i == j else off_diag
                strength = float(share[i, j]) ** 0.6
                mixed = QColor(
                    round(base.red() + (color.red() - base.red()) * strength),
                    round(base.green() + (color.green() - base.green()) * strength),
                    round(base.blue() + (color.blue() - base.blue()) * strength),
                )
                rect = QRect(left + j * cell, top + i * cell, cell - 1, cell - 1)
                painter.fillRect(rect, mixed)
                count = int(self._matrix[i, j])
                if count and cell >= 20:
                    painter.setFont(small)
                    painter.setPen(QColor("white") if strength > 0.55 else text_color)
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count))
                    painter.setFont(font)
        painter.setPen(text_color)
        for k, name in enumerate(SHORT_NAMES):
            painter.drawText(
                QRect(0, top + k * cell, label_w - 4, cell),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                name,
            )
            painter.save()
            painter.setFont(small)
            painter.drawText(
                QRect(left + k * cell, top - axis_h, cell, axis_h),
                Qt.AlignmentFlag.AlignCenter,
                str(k),
            )
            painter.restore()
        painter.drawText(texts["axis"][0], Qt.AlignmentFlag.AlignCenter, texts["axis"][1])
        painter.end()


class MisclassifiedGrid(QWidget):
    """Test images the model got wrong, each with "predicted (true)" underneath."""

    def __init__(self, parent: QWidget | None = None, tile: int = 56) -> None:
        super().__init__(parent)
        self._tile = tile
        self._images: list[QImage] = []
        self._captions: list[tuple[str, str]] = []
        self._title = EMPTY_MISTAKES
        # In a scroll area: grow to hold every image rather than stop at the bottom edge.
        self.fit_height = False
        self.setMinimumSize(QSize(220, 200))  # two side by side still fit a 1024 px window
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def _cell_size(self) -> tuple[int, int, int]:
        """Title height, cell width and cell height at the current font."""
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.8))
        metrics = QFontMetrics(small)
        cell_w = max(self._tile, metrics.horizontalAdvance("Pullover") + 6)
        return self.fontMetrics().height() + 6, cell_w, self._tile + metrics.height() * 2 + 6

    def _fit(self) -> None:
        if not self.fit_height:
            return
        title_h, cell_w, cell_h = self._cell_size()
        rows = -(-len(self._images) // max(1, self.width() // cell_w))
        height = max(200, title_h + rows * cell_h + 4)
        if height != self.minimumHeight():
            self.setMinimumHeight(height)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def set_items(self, images: np.ndarray, predicted: Sequence[int], true: Sequence[int], epoch: int | None = None,
                  title: str | None = None) -> None:
        """Show uint8 images (K, 28, 28) with their predicted and true labels (``title``:
        another heading than the misclassified images')."""
        images = np.ascontiguousarray(np.asarray(images, dtype=np.uint8))
        self._images = []
        for img in images:
            h, w = img.shape
            # copy(): QImage would otherwise point into the numpy buffer.
            self._images.append(QImage(img.data, w, h, w, QImage.Format.Format_Grayscale8).copy())
        self._captions = [(SHORT_NAMES[p], SHORT_NAMES[t]) for p, t in zip(predicted, true)]
        shown = len(self._images)
        self._title = (
            f"Misclassified test images, epoch {epoch} (first {shown}): predicted / true"
            if shown
            else f"No misclassified test images after epoch {epoch}"
        ) if title is None else title
        self._fit()
        self.update()

    def clear(self, title: str = "") -> None:
        """Show only ``title`` (a run is loading, or no epoch of this model yet)."""
        self._images = []
        self._captions = []
        self._title = title or EMPTY_MISTAKES
        self._fit()
        self.update()

    @property
    def count(self) -> int:
        return len(self._images)

    @property
    def title(self) -> str:
        return self._title

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        pal = self.palette()
        text_color = pal.color(QPalette.ColorRole.WindowText)
        metrics = painter.fontMetrics()
        title_h = metrics.height() + 6
        painter.setPen(text_color)
        if not self._images:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._title)
            painter.end()
            return
        painter.drawText(QRect(0, 0, self.width(), title_h), Qt.AlignmentFlag.AlignCenter, self._title)
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.8))
        painter.setFont(small)
        small_metrics = painter.fontMetrics()
        caption_h = small_metrics.height() * 2
        cell_w = max(self._tile, small_metrics.horizontalAdvance("Pullover") + 6)
        cell_h = self._tile + caption_h + 6
        columns = max(1, self.width() // cell_w)
        x0 = (self.width() - columns * cell_w) // 2
        wrong = QColor(200, 60, 50)
        for k, (image, (pred, true)) in enumerate(zip(self._images, self._captions)):
            row, col = divmod(k, columns)
            x = x0 + col * cell_w
            y = title_h + row * cell_h
            if y + cell_h > self.height():
                break
            target = QRect(x + (cell_w - self._tile) // 2, y, self._tile, self._tile)
            painter.drawImage(target, image)
            painter.setPen(wrong)
            painter.drawText(QRect(x, y + self._tile + 1, cell_w, small_metrics.height()), Qt.AlignmentFlag.AlignCenter, pred)
            painter.setPen(text_color)
            painter.drawText(
                QRect(x, y + self._tile + 1 + small_metrics.height(), cell_w, small_metrics.height()),
                Qt.AlignmentFlag.AlignCenter,
                true,
            )
        painter.end()
