"""The numbered list of lessons; an experiment carries a quiet "trains" on the right."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from explorer.lessons.base import Lesson
from explorer.ui.theme import SECONDARY_ROLE

TAG_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole
TRAINS = "trains"


class _TagDelegate(QStyledItemDelegate):
    """The item's text elided before its tag, the tag in the secondary colour."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        tag = index.data(TAG_ROLE) or ""
        if not tag:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is None:
            return
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        # The style's own text margin, so a tagged row's text lines up with an untagged one's.
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, widget) + 1
        rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget).adjusted(
            margin, 0, -margin - 2, 0)
        metrics = opt.fontMetrics
        tag_width = metrics.horizontalAdvance(tag) + 6
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.save()
        painter.setPen(opt.palette.color(text_role))
        main = rect.adjusted(0, 0, -tag_width, 0)
        painter.drawText(main, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         metrics.elidedText(text, Qt.TextElideMode.ElideRight, main.width()))
        painter.setPen(opt.palette.color(text_role if selected else SECONDARY_ROLE))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), tag)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        hint = super().sizeHint(option, index)
        return QSize(hint.width() + 60, max(hint.height(), option.fontMetrics.height() + 10))


class LessonList(QListWidget):
    """``1. Stacked small kernels`` … in order; the current row is the lesson shown.

    Signals:
        lesson_chosen(str): the name of the lesson made current.
    """

    lesson_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lesson-list")
        self.setItemDelegate(_TagDelegate(self))
        self.setUniformItemSizes(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.currentRowChanged.connect(self._on_row)

    def set_lessons(self, lessons: Sequence[Lesson]) -> None:
        self.blockSignals(True)
        self.clear()
        for lesson in lessons:
            item = QListWidgetItem(f"{lesson.number}. {lesson.title}")
            item.setData(NAME_ROLE, lesson.name)
            # The whole title too: a narrow list elides it.
            if lesson.kind == "experiment":
                item.setData(TAG_ROLE, TRAINS)
                item.setToolTip(f"{lesson.title}: {lesson.claim}\n\nAn experiment: it trains (its result is "
                                "shipped; run it again from its page).")
            else:
                item.setToolTip(f"{lesson.title}: {lesson.claim}\n\nMeasured live on the zoo's models.")
            self.addItem(item)
        self.blockSignals(False)

    @property
    def names(self) -> list[str]:
        return [self.item(row).data(NAME_ROLE) for row in range(self.count())]

    def select(self, name: str) -> None:
        """Make ``name`` current (``lesson_chosen`` follows)."""
        names = self.names
        if name in names:
            self.setCurrentRow(names.index(name))

    def _on_row(self, row: int) -> None:
        if 0 <= row < self.count():
            self.lesson_chosen.emit(self.item(row).data(NAME_ROLE))
