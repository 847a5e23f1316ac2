"""One background job at a time, converging to the latest request.

The explain views ask for things that take from milliseconds to seconds (an effective
receptive field, a Grad-CAM map, a knockout's accuracy, the top images of a layer). A
``LatestJob`` runs one request in a superqt worker; a request made while one runs waits,
and only the newest waiting request runs next (the user has moved on from the others).
Results come back through signals connected to bound methods of the owner, tagged with
the request's number so a view can drop an answer it no longer wants. Generator
functions report their yields through ``progress``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, qWarning
from superqt.utils import FunctionWorker, GeneratorWorker

from explorer.errors import UserError


class LatestJob(QObject):
    """Runs the newest request of its owner off the GUI thread.

    Signals:
        done(int, object): request number and the function's result.
        failed(int, str): request number and a one-line reason.
        progress(int, object): request number and a value a generator yielded.
    """

    done = Signal(int, object)
    failed = Signal(int, str)
    progress = Signal(int, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.number = 0  # the newest request's number
        self._worker: GeneratorWorker | FunctionWorker | None = None
        self._running = -1
        self._waiting: tuple[int, Callable[..., Any], tuple[Any, ...]] | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        """True while an answer is still to come: a waiting request, or the running one's.

        A worker whose answer was delivered (or dropped) may still be unwinding its thread;
        that is not "busy" to a view, which has its result already."""
        return self._waiting is not None or (self._worker is not None and self._running == self.number)

    def submit(self, function: Callable[..., Any], *args: Any) -> int:
        """Run ``function(*args)`` as soon as the running request ends; returns its number."""
        self.number += 1
        self._waiting = (self.number, function, args)
        self._start()
        return self.number

    def cancel(self) -> None:
        """Forget every request: a waiting one never runs, a running one's answer is dropped."""
        self.number += 1
        self._waiting = None
        if isinstance(self._worker, GeneratorWorker):
            self._worker.quit()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for the running worker; False (and a Qt warning) if it did not end."""
        self._closed = True
        self.cancel()
        if self._worker is not None and not QThreadPool.globalInstance().waitForDone(timeout_ms):
            qWarning(f"{self.name} worker still running after {timeout_ms} ms")
            return False
        return True

    def _start(self) -> None:
        if self._worker is not None or self._waiting is None or self._closed:
            return
        number, function, args = self._waiting
        self._waiting = None
        self._running = number
        if inspect.isgeneratorfunction(function):
            worker: GeneratorWorker | FunctionWorker = GeneratorWorker(function, *args)
            worker.yielded.connect(self._on_yielded)
        else:
            worker = FunctionWorker(function, *args)
        self._worker = worker
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        worker.start()

    def _on_yielded(self, value: Any) -> None:
        if self._running == self.number:
            self.progress.emit(self._running, value)

    def _on_returned(self, value: Any) -> None:
        number, self._running = self._running, -1  # answered: no longer busy
        if number == self.number:
            self.done.emit(number, value)

    def _on_errored(self, exc: Exception) -> None:
        number, self._running = self._running, -1
        if number != self.number:
            return
        text = str(exc) if isinstance(exc, UserError) else f"{self.name} failed: {type(exc).__name__}: {exc}"
        self.failed.emit(number, (text.splitlines() or [type(exc).__name__])[0])

    def _on_finished(self) -> None:
        self._worker = None
        self._start()
