"""Fixtures of the window tests: fail on any Qt warning raised while a test runs."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QtMsgType, qInstallMessageHandler

# Messages of the offscreen platform plugin itself, not of the app.
_PLATFORM_NOISE = ("propagateSizeHints",)


@pytest.fixture
def qt_warnings():
    """Collect Qt warnings, criticals and fatals; the test fails if any came."""
    seen: list[str] = []

    def handler(kind, _context, message: str) -> None:
        if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg) and not any(
                noise in message for noise in _PLATFORM_NOISE):
            seen.append(message)

    previous = qInstallMessageHandler(handler)
    yield seen
    qInstallMessageHandler(previous)
    assert not seen, f"Qt warnings: {seen[:5]}"
