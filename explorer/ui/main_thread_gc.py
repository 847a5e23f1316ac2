"""Python's cyclic garbage collection, run on the GUI thread only.

A collection runs in whichever thread happens to allocate when a generation's threshold is
crossed. If that is a worker thread (a model builder, a stepping thread) and the garbage
holds Qt wrappers (the widgets of a closed window), their C++ objects are destroyed on the
worker thread: ``QObject::~QObject`` locks Qt's signal-slot mutex there and then waits for
the interpreter lock, while the GUI thread, holding the interpreter lock, destroys another
wrapper and waits for that mutex. The window tests hung exactly so (a model build in a
thread collecting the widgets of a window closed a moment before). The remedy Qt
applications use: switch automatic collection off and collect from a timer on the GUI
thread, with the thresholds the interpreter would have used.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

_INTERVAL_MS = 500


class MainThreadCollector(QObject):
    """Owns a timer on the GUI thread that does the collections ``gc`` would have done."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(_INTERVAL_MS)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def collect_due(self) -> int:
        """Collect the oldest generation whose count has passed its threshold (as gc does)."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._thresholds[generation]:
                return gc.collect(generation)
        return 0


def collect_on_main_thread(app: QObject) -> MainThreadCollector:
    """Install the collector once on ``app`` (the QApplication); later calls return it."""
    existing = app.findChild(MainThreadCollector)
    return existing if existing is not None else MainThreadCollector(app)
