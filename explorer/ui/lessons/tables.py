"""Compact tables for a lesson's page: the measured figures beside the paper's, and the
demonstration's own tables.

A table shows every row at once (the page scrolls, not the table): its height follows its
rows, its first column takes the width left and wraps, the others fit their contents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSizePolicy, QTableWidget, QTableWidgetItem, QWidget

from explorer.lessons.base import Figure, Table


def format_value(value: Any, unit: str = "") -> str:
    """A number as people read it (``1,234,567``, ``0.9123``, ``2.5e-05``), text as it is,
    None as a dash; ``unit`` after it."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        if math.isnan(value):
            text = "–"
        elif value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            text = f"{value:.3g}" if abs(value) < 1e-3 else f"{value:,.0f}"
        elif abs(value) >= 1e4:
            text = f"{value:,.0f}"
        else:
            text = f"{value:.4g}"
    else:
        text = str(value)
    return f"{text} {unit}".rstrip() if unit and text != "–" else text


class CompactTable(QTableWidget):
    """A read-only table as tall as its rows, so the page around it does the scrolling."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], parent: QWidget | None = None) -> None:
        super().__init__(len(rows), len(columns), parent)
        self.setHorizontalHeaderLabels([str(c) for c in columns])
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        for r, row in enumerate(rows):
            for c in range(len(columns)):
                value = row[c] if c < len(row) else None
                item = QTableWidgetItem(format_value(value))
                if c > 0 and isinstance(value, (int, float)) and not isinstance(value, bool):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)
        header = self.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setMinimumSectionSize(40)
        # The first column (what a row is) takes the width left and wraps; numbers fit.
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        if len(columns) > 1:
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        else:
            header.setStretchLastSection(True)
        self._fit_height()

    def _fit_height(self) -> None:
        self.resizeRowsToContents()
        height = self.horizontalHeader().sizeHint().height() + self.verticalHeader().length() + 2 * self.frameWidth()
        scroll = self.horizontalScrollBar()
        if scroll.isVisible() or scroll.maximum() > 0:
            height += scroll.sizeHint().height()
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        # Wrapped text takes more lines in a narrower table: the rows and the height follow.
        self._fit_height()


def figures_table(figures: Sequence[Figure]) -> CompactTable:
    """What was measured, ours (bold) and the paper's, each with its unit."""
    table = CompactTable(("Measured", "Ours", "Paper"), [
        (f.label, format_value(f.ours, f.unit), format_value(f.paper, f.unit) if f.paper is not None else "–")
        for f in figures])
    table.setObjectName("lesson-figures")
    for row in range(table.rowCount()):
        for column in (1, 2):
            table.item(row, column).setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        ours = table.item(row, 1)
        font = ours.font()
        font.setBold(True)
        ours.setFont(font)
    table.resizeColumnsToContents()
    table._fit_height()
    return table


def outcome_table(table: Table) -> CompactTable:
    """One of the demonstration's tables."""
    widget = CompactTable(table.columns, table.rows)
    widget.setObjectName("lesson-table")
    return widget
