"""Runs the feature-map pipeline in a superqt worker and converges it to the latest wish.

The wish is made from the session (its loaded model, image, knockouts, device) and the
panel's own choices here (the node to show, colour map, scale); the panel sets those and
calls ``changed()``, which bumps the version. One worker runs at a time: its generator checks the latest wish after every node
and returns early when it has moved on, and a fresh run starts from where the stepper
stands. Views made for a model, weights or image the user has left are dropped here, so
the panel only ever receives views of what it shows. Worker signals connect to bound
methods of this object: they die with it.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QThreadPool, Signal, qWarning
from superqt.utils import GeneratorWorker

from explorer.activations.colormaps import COLORMAPS
from explorer.activations.pipeline import Pipeline, View, Wish
from explorer.activations.stepper import Stepper
from explorer.errors import UserError
from explorer.session import Session

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

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.target: str | int | None = None
        self.colormap = COLORMAPS[0]
        self.scale = "shared"
        self.version = 0
        self.pipeline = Pipeline(resolve_knockouts)
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
    def wish(self) -> Wish:
        """What to show now: the session's values and the panel's choices."""
        s = self.session
        return Wish(s.loaded, s.image, s.knockouts, self.target, s.device, self.colormap, self.scale,
                    self.version)

    @property
    def stepper(self) -> Stepper | None:
        """The stepper of the loaded model, once built (read it only while not ``busy``)."""
        return self.pipeline.built_for(self.session.loaded)

    def shows_latest(self, view: View | None) -> bool:
        return view is not None and view.version == self.version and self.session.loaded is not None

    def changed(self) -> None:
        """The wish changed: bring the stepper to it."""
        self.version += 1
        self._start()

    def forget_model(self) -> None:
        """Another model: the next run builds a new stepper (the old one is freed now when
        no worker holds it)."""
        self.version += 1
        if self._worker is None:
            self.pipeline.drop()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Stop the worker and wait for it; False (and a Qt warning) if it did not end."""
        self._closed = True
        self.version += 1  # the running plan is superseded: it returns at the next node
        if self._worker is not None:
            self._worker.quit()
            if not QThreadPool.globalInstance().waitForDone(timeout_ms):
                qWarning(f"feature-map worker still running after {timeout_ms} ms")
                return False
        return True

    def _latest(self) -> Wish:
        # Read from the worker thread: plain attribute reads of the GUI's latest state.
        return self.wish

    def _start(self) -> None:
        plan = self.wish
        if self._worker is not None or plan.loaded is None or plan.image is None or self._closed:
            return
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
        if self.version not in (self._done_version, self._failed_version):
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
        session = self.session
        if view is None or view.loaded is not session.loaded or view.image is not session.image:
            return  # made for a model, weights or image the user has left
        self._done_version = view.version
        self.view_ready.emit(view)


def resolve_knockouts(loaded, specs: tuple[str, ...]) -> tuple:
    """The knockouts ``specs`` name on ``loaded``'s network (run in the worker: the graph
    they are read against may need tracing)."""
    from explorer.explain.knockout import parse_knockout
    from explorer.graph.stored import named_graph

    graph, _notice = named_graph(loaded.source, loaded.builder_kwargs)
    return tuple(parse_knockout(spec, graph, loaded.module) for spec in specs)
