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


@pytest.fixture
def feature_panel(qtbot):
    """``feature_panel(model, weights, data_root, node=None)``: a shown FeatureMapPanel on its
    own session, holding ``model`` built with torch's seed 0, settled (at ``node`` if given);
    every panel made is stopped at the end."""
    import torch

    from explorer.loading import LoadedModel
    from explorer.models import get_model
    from explorer.session import Session
    from explorer.ui.maps.panel import FeatureMapPanel

    panels = []

    def make(model: str, weights, data_root, node: str | None = None):
        session = Session()
        widget = FeatureMapPanel(session, device="cpu", data_root=data_root)
        qtbot.addWidget(widget)
        widget.resize(1000, 700)
        widget.show()
        panels.append(widget)
        torch.manual_seed(0)
        with qtbot.waitSignal(widget.view_updated, timeout=30_000):
            session.set_model(model, weights)
            assert session.deliver(LoadedModel.of(model, weights, get_model(model)))
        qtbot.waitUntil(lambda: widget.settled, timeout=30_000)
        if node is not None:
            widget.show_node(node)
            qtbot.waitUntil(lambda: widget.settled and widget.current_node == node, timeout=30_000)
        return widget

    yield make
    for widget in panels:
        widget.stop()
