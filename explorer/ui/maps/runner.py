"""Runs the feature-map pipeline in a superqt worker and converges it to the latest wish.

The panel edits ``runner.wish`` and calls ``changed()``; every change bumps the wish's
version. One worker runs at a time: its generator checks the latest wish after every node
and returns early when it has moved on, and a fresh run starts from where the stepper
stands. Views made for a model, weights or image the user has left are dropped here, so
the panel only ever receives views of what it shows. Worker signals connect to bound
methods of this object: they die with it.
"""

from __future__ import annotations

import dataclasses
import time

from PySide6.QtCore import QObject, QThreadPool, Signal, qWarning
from superqt.utils import GeneratorWorker

from explorer.activations.pipeline import Pipeline, View, Wish
from explorer.activations.stepper import Stepper
from explorer.errors import UserError

#: Progress reports during long runs at most this often.
PROGRESS_INTERVAL_S = 0.1


class PipelineRunner(QObject):
    """Brings a :class:`Pipeline` to ``wish`` off the GUI thread.

    Signals:
        view_ready(object): a :class:`View` of the latest model, weights and image.
        progress(int, int): node index and total, at most every PROGRESS_INTERVAL_S.
        failed(str): one line saying why the wish cannot be shown (not retried until the
            wish changes).
    """

    view_ready = Signal(object)
    progress = Signal(int, int)
    failed = Signal(str)

    def __init__(self, device: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.wish = Wish(device=device)
        self.pipeline = Pipeline()
        self._worker: GeneratorWorker | None = None
        self._running_version = -1
        self._done_version = -1
        self._failed_version = -1
        self._last_progress = 0.0
        self._closed = False

    @property
    def busy(self) -> bool:
        return self._worker is not None

    @property
    def stepper(self) -> Stepper | None:
        """The stepper of the wished module, once built (read it only while not ``busy``)."""
        wish = self.wish
        return self.pipeline.built_for(wish.model_gen) if wish.model is not None else None

    def shows_latest(self, view: View | None) -> bool:
        return view is not None and view.version == self.wish.version and self.wish.model is not None

    def changed(self) -> None:
        """The wish changed: bring the stepper to it."""
        self.wish.version += 1
        self._start()

    def forget_model(self) -> None:
        """Another model: the next run builds a new stepper (the old one is freed now when
        no worker holds it)."""
        self.wish.model = None
        self.wish.model_gen += 1
        self.wish.version += 1
        if self._worker is None:
            self.pipeline.drop()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Stop the worker and wait for it; False (and a Qt warning) if it did not end."""
        self._closed = True
        self.wish.version += 1  # the running plan is superseded: it returns at the next node
        if self._worker is not None:
            self._worker.quit()
            if not QThreadPool.globalInstance().waitForDone(timeout_ms):
                qWarning(f"feature-map worker still running after {timeout_ms} ms")
                return False
        return True

    def _latest(self) -> Wish:
        # Read from the worker thread: a plain attribute read of the GUI's latest wish.
        return self.wish

    def _start(self) -> None:
        wish = self.wish
        if self._worker is not None or wish.model is None or wish.image is None or self._closed:
            return
        plan = dataclasses.replace(wish)
        self._running_version = plan.version
        worker = GeneratorWorker(self.pipeline.run, plan, self._latest)
        self._worker = worker
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        worker.start()

    def _on_finished(self) -> None:
        self._worker = None
        if self.wish.version not in (self._done_version, self._failed_version):
            self._start()

    def _on_error(self, exc: Exception) -> None:
        # Remember the failed wish so it is not retried until the user changes something.
        self._failed_version = self._running_version
        text = str(exc) if isinstance(exc, UserError) else f"stepping failed: {type(exc).__name__}: {exc}"
        self.failed.emit(text.splitlines()[0] if text else type(exc).__name__)

    def _on_progress(self, progress: tuple[int, int]) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(*progress)

    def _on_returned(self, view: View | None) -> None:
        wish = self.wish
        if view is None or view.model_gen != wish.model_gen or view.image_gen != wish.image_gen:
            return  # made for a model, weights or image the user has left
        self._done_version = view.version
        self.view_ready.emit(view)
