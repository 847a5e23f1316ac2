"""Help > Keyboard shortcuts… lists every shortcut the window has, gathered from its
actions and QShortcut objects (a shortcut added anywhere shows up without a list to edit)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence, QShortcut

from explorer.settings import Settings
from explorer.ui.main_window import MainWindow
from explorer.ui.shortcuts import ShortcutsDialog, key_text


def _rows(dialog: ShortcutsDialog) -> list[tuple[str, str]]:
    table = dialog.table
    return [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())]


def _help_entry(window: MainWindow, text: str) -> QAction:
    for menu in window.menuBar().actions():
        if menu.text() == "&Help":
            return next(a for a in menu.menu().actions() if a.text() == text)
    raise AssertionError("no Help menu")


def test_help_lists_every_shortcut_of_the_window(qtbot, qt_warnings):
    window = MainWindow(Settings(), initial_model="lenet_small")
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.model_shown, timeout=120_000):
        pass
    try:
        _help_entry(window, "&Keyboard shortcuts…").trigger()
        dialogs = window.findChildren(ShortcutsDialog)
        assert len(dialogs) == 1 and dialogs[0].isVisible()
        rows = _rows(dialogs[0])
        listed = {keys for keys, _ in rows}
        defined = {key_text(keys) for action in window.findChildren(QAction) for keys in action.shortcuts()}
        defined |= {key_text(keys) for shortcut in window.findChildren(QShortcut) for keys in shortcut.keys()}
        assert defined and defined <= listed
        find = key_text(QKeySequence(QKeySequence.StandardKey.Find))
        quit_keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
        assert (find, "Graph › Find a layer or type") in rows
        assert (key_text(QKeySequence("Ctrl+E")), "File › Export graph") in rows
        assert not quit_keys or (key_text(quit_keys[0]), "File › Quit") in rows
        # Each says what it does (a QShortcut's whatsThis), not only where it lives.
        assert all(what and not what.startswith("in the ") for _, what in rows), rows
        dialogs[0].close()
        # Gathered when it opens, not written down: a shortcut made since is listed.
        added = QShortcut(QKeySequence("Ctrl+Shift+K"), window.feature_panel)
        added.setWhatsThis("Maps › a shortcut made for this test")
        rows = _rows(window.show_shortcuts())
        assert (key_text(QKeySequence("Ctrl+Shift+K")), "Maps › a shortcut made for this test") in rows
    finally:
        window.close()
