"""Help > Keyboard shortcuts…: every shortcut of the window, gathered from its actions and
``QShortcut`` objects when the list opens, never written by hand, so a shortcut added
anywhere in the window appears in it by itself."""

from __future__ import annotations

import re

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def key_text(keys: QKeySequence) -> str:
    """How the platform writes ``keys`` ("Ctrl+F", "⌘F" on macOS)."""
    return keys.toString(QKeySequence.SequenceFormat.NativeText)


def _plain(text: str) -> str:
    """A menu text without its mnemonic marks ("&Open image…" -> "Open image…")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _where(owner: QObject | None) -> str:
    """An object's kind in words ("GraphPanel" -> "graph panel")."""
    if owner is None:
        return "window"
    return " ".join(re.findall(r"[A-Z][a-z]*|[a-z]+", type(owner).__name__)).lower()


def _action_text(action: QAction) -> str:
    menus = [obj for obj in action.associatedObjects() if isinstance(obj, QMenu)]
    text = _plain(action.text()).rstrip("…").strip() or action.toolTip()
    return f"{_plain(menus[0].title())} › {text}" if menus and menus[0].title() else text


def window_shortcuts(window: QWidget) -> list[tuple[str, str]]:
    """(keys, what they do) of every action and ``QShortcut`` under ``window`` that has keys,
    menu actions first; each binding of a standard key (Find next: F3 and Ctrl+G) apart."""
    rows: list[tuple[str, str]] = []
    for action in window.findChildren(QAction):
        for keys in action.shortcuts():
            rows.append((key_text(keys), _action_text(action)))
    for shortcut in window.findChildren(QShortcut):
        what = shortcut.whatsThis() or shortcut.objectName() or f"in the {_where(shortcut.parent())}"
        bindings = shortcut.keys()  # a standard key may have several (Find next: F3, Ctrl+G)
        rows.extend((key_text(keys), what) for keys in bindings)
    return [row for i, row in enumerate(rows) if row[0] and row not in rows[:i]]


class ShortcutsDialog(QDialog):
    """The window's shortcuts in a two-column table: keys, and what they do."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = window_shortcuts(window)
        self.table = QTableWidget(len(self.rows), 2, self)
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for row, (keys, what) in enumerate(self.rows):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(what))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(460, min(120 + 26 * len(self.rows), 560))
