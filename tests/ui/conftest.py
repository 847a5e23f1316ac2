"""Fixtures of the window tests: every test fails on any Qt warning raised while it runs;
modal questions never block; move the pointer over a widget."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QtMsgType, qInstallMessageHandler

# Messages of the offscreen platform plugin itself, not of the app.
_PLATFORM_NOISE = ("propagateSizeHints",)


@pytest.fixture(autouse=True)
def no_blocking_questions(monkeypatch):
    """A modal question offscreen would wait forever (closing a window whose run a failed
    test left going asks first): answer Yes unless a test patches it itself."""
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)


@pytest.fixture(autouse=True)
def qt_warnings():
    """Collect Qt warnings, criticals and fatals; every window test fails if any came."""
    seen: list[str] = []

    def handler(kind, _context, message: str) -> None:
        if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg) and not any(
                noise in message for noise in _PLATFORM_NOISE):
            seen.append(message)

    previous = qInstallMessageHandler(handler)
    yield seen
    qInstallMessageHandler(previous)
    assert not seen, f"Qt warnings: {seen[:5]}"


@pytest.fixture
def hover():
    """``hover(widget, pos)``: a real mouse-move event through Qt (offscreen, QTest's
    mouseMove moves no pointer)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    def move(widget, pos) -> None:
        local = QPointF(pos)
        event = QMouseEvent(QEvent.Type.MouseMove, local, widget.mapToGlobal(local), Qt.MouseButton.NoButton,
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)

    return move
