"""A GUI-thread stall probe: a fast timer on the GUI thread records the longest gap
between its ticks while some work happens. The one Qt-using module under bench/."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QElapsedTimer, QTimer


class Heartbeat:
    """Ticks every ``interval_ms`` on the GUI thread; ``stop()`` returns the longest gap (ms).

    A gap much longer than the interval means the GUI thread could not run its event loop:
    the window would have frozen for that long.
    """

    def __init__(self, interval_ms: int = 5) -> None:
        self.interval_ms = interval_ms
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_tick)
        self._clock = QElapsedTimer()
        self._last = 0
        self.max_gap_ms = 0.0
        self.ticks = 0

    def start(self) -> None:
        self.max_gap_ms = 0.0
        self.ticks = 0
        self._clock.start()
        self._last = self._clock.nsecsElapsed()
        self._timer.start()

    def _on_tick(self) -> None:
        now = self._clock.nsecsElapsed()
        self.max_gap_ms = max(self.max_gap_ms, (now - self._last) / 1e6)
        self._last = now
        self.ticks += 1

    def stop(self) -> float:
        self._timer.stop()
        self._on_tick()  # count the time since the last tick too
        return self.max_gap_ms


def max_gap_while(done: Callable[[], bool], timeout_s: float = 120.0, interval_ms: int = 5) -> float:
    """Pump the event loop until ``done()`` is true; return the longest heartbeat gap (ms).

    Raises TimeoutError if ``done()`` stays false for ``timeout_s``.
    """
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("max_gap_while needs a running QApplication")
    beat = Heartbeat(interval_ms)
    beat.start()
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            beat.stop()
            raise TimeoutError(f"work did not finish within {timeout_s:.0f} s")
        app.processEvents()
        time.sleep(0.001)  # let the timer's interval pass instead of spinning the core
    return beat.stop()
