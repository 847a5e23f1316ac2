"""Session callbacks owned by a widget, dropped when it closes or is destroyed.

The session is plain Python and outlives nothing in particular; a callback left behind
by a deleted widget would fire on a deleted C++ object ("already deleted"). Each view
connects through a ``Subscriptions`` that disconnects everything on ``clear()`` (called
from ``closeEvent``) and, as a backstop, when Qt destroys the owner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject

from explorer.session import Event


class Subscriptions:
    """The session events one Qt object listens to."""

    def __init__(self, owner: QObject) -> None:
        self._disconnects: list[Callable[[], None]] = []
        # A plain function: a bound method of the dying owner cannot be called any more.
        disconnects = self._disconnects
        owner.destroyed.connect(lambda *_: _drop(disconnects))

    def connect(self, event: Event, callback: Callable[..., Any]) -> None:
        self._disconnects.append(event.connect(callback))

    def clear(self) -> None:
        _drop(self._disconnects)


def _drop(disconnects: list[Callable[[], None]]) -> None:
    for disconnect in disconnects:
        disconnect()
    disconnects.clear()
