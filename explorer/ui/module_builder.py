"""Loads the session's model for its selection off the GUI thread.

VGG-19's 143 M parameters take seconds to initialise, and loading a checkpoint reads
hundreds of megabytes: the load runs in one ``QThread`` at a time. Requests coalesce: while
one load runs, only the newest selection waits, so a user clicking through ten models
loads two, not ten. Results come back on the GUI thread and go to ``session.deliver``,
which refuses any the user has left.

What to do when weights cannot be had is decided by :func:`explorer.loading.load_model`
alone; this module only hands it what was shown before (for "keeping" it) and keeps the
loaded models of the current model, so switching weights back is instant.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, QTimer, Signal, qWarning

from explorer.session import Selection, Session
from explorer.ui.subscriptions import Subscriptions


class _LoadThread(QThread):
    done = Signal(object)  # (selection, LoadedModel or None, message)

    def __init__(self, selection: Selection, previous, parent: QObject) -> None:
        super().__init__(parent)
        self.selection = selection
        self.previous = previous

    def run(self) -> None:
        from explorer.loading import load_model

        try:
            loaded = load_model(self.selection.source, self.selection.weights, self.previous)
        except Exception as exc:  # noqa: BLE001 - any failure is reported in the window
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.done.emit((self.selection, None, text))
            return
        self.done.emit((self.selection, loaded, ""))


class ModuleBuilder(QObject):
    """Keeps ``session.loaded`` built for ``session.selection``."""

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._thread: _LoadThread | None = None
        self._pending: Selection | None = None
        # Loaded models of the current model, by selection: switching back is instant, and
        # weights that fail to load keep the ones shown before.
        self._loaded: dict[Selection, object] = {}
        self._shown = None  # the LoadedModel shown last, for the current model
        self._stopped = False
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.model_changed, self._on_model_changed)

    @property
    def busy(self) -> bool:
        return self._thread is not None or self._pending is not None

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Take no more requests and wait for the running load; a load that does not
        finish in time is reported as a Qt warning and False is returned."""
        self._stopped = True
        self._pending = None
        self._subscriptions.clear()
        thread = self._thread
        if thread is not None and not thread.wait(timeout_ms):
            qWarning(f"loading {thread.selection.source} still running after {timeout_ms} ms")
            return False
        return True

    # ----- session events ----------------------------------------------------------------

    def _on_model_changed(self, session: Session, change: str) -> None:
        if change == "model":
            self._loaded = {}
            self._shown = None
        if change == "loaded":
            loaded = session.loaded
            self._shown = loaded
            if not loaded.fallback:
                self._loaded[loaded.selection] = loaded
            # Keep only what is shown: a VGG costs 550 MB.
            self._loaded = {s: m for s, m in self._loaded.items() if m is loaded}
            return
        if change not in ("model", "weights") or session.selection is None:
            return
        cached = self._loaded.get(session.selection)
        if cached is not None:
            session.deliver(cached)
            return
        self._pending = session.selection
        # Next turn of the event loop: a caller that delivers the model itself right after
        # choosing it (a training run's epoch) needs no load.
        QTimer.singleShot(0, self, self._start_next)

    # ----- loading -----------------------------------------------------------------------

    def _start_next(self) -> None:
        if self._thread is not None or self._pending is None or self._stopped:
            return
        selection, self._pending = self._pending, None
        session = self.session
        if selection != session.selection or (session.loaded is not None and session.loaded.selection == selection):
            return
        thread = _LoadThread(selection, self._shown, self)
        thread.done.connect(self._on_done)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        thread.start()

    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        self._start_next()

    def _on_done(self, result: tuple) -> None:
        selection, loaded, message = result
        session = self.session
        if self._stopped or selection != session.selection:
            return
        # How it went (the loaded model's notice, the failure) is said by the views that
        # show the change: one event, not a second one for the status bar.
        if loaded is None:
            session.load_failed(selection, message)
        else:
            session.deliver(loaded)
