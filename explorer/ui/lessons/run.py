"""An experiment trained again, on a thread of its own.

``run_lesson`` is plain Python that calls back with progress and asks ``should_stop``
between steps; this thread turns that into signals for the GUI thread. Progress arrives as
often as batches do and is passed on at most every ``PROGRESS_INTERVAL_S`` (and once at the
end), so the page repaints a few times a second however fast the run goes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, qWarning

from explorer.errors import UserError
from explorer.lessons.base import ExperimentStopped, Lesson

PROGRESS_INTERVAL_S = 0.1


def one_line(lesson: Lesson, exc: BaseException) -> str:
    """What a failed run says, on one line: a user's problem as it is, anything else named."""
    text = str(exc) if isinstance(exc, UserError) else f"{lesson.title} failed: {type(exc).__name__}: {exc}"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class ExperimentRun(QThread):
    """Runs ``lesson`` again through ``run`` (``explorer.lessons.run_lesson``).

    Signals:
        progressed(float, str): fraction done and what runs now (throttled).
        succeeded(object, float): the outcome (the rerun beside the shipped result) and the
            run's seconds.
        stopped(): the user stopped it; nothing of it is kept.
        failed(str): one line saying why it could not run.
    """

    progressed = Signal(float, str)
    succeeded = Signal(object, float)
    stopped = Signal()
    failed = Signal(str)

    def __init__(self, lesson: Lesson, run: Callable[..., tuple[Any, Any, float]], *, quick: bool = False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lesson = lesson
        self._run = run
        self._quick = quick
        self._stop = threading.Event()
        self._last_progress = 0.0

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the run to end at its next step (it raises ExperimentStopped there)."""
        self._stop.set()

    def stop_and_wait(self, timeout_ms: int = 30_000) -> bool:
        """Stop and wait for the thread; False (and a Qt warning) when it did not end."""
        self.stop()
        if self.wait(timeout_ms):
            return True
        qWarning(f"lesson {self.lesson.name}: the run is still going after {timeout_ms} ms")
        return False

    def run(self) -> None:
        try:
            outcome, _result, seconds = self._run(self.lesson, self._progress, quick=self._quick,
                                                  should_stop=self._stop.is_set)
        except ExperimentStopped:
            self.stopped.emit()
        except Exception as exc:  # noqa: BLE001 - any failure is one line on the page
            if self._stop.is_set():
                self.stopped.emit()  # a run torn down by its stop is a stop, not a failure
            else:
                self.failed.emit(one_line(self.lesson, exc))
        else:
            self.succeeded.emit(outcome, seconds)

    def _progress(self, fraction: float, text: str) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progressed.emit(float(min(max(fraction, 0.0), 1.0)), str(text))
