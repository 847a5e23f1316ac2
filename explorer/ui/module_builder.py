"""Builds the session's module for (model, weights) off the GUI thread.

VGG-19's 143 M parameters take seconds to initialise, and loading a checkpoint reads
hundreds of megabytes: the build runs in one ``QThread`` at a time. Requests coalesce: while
one build runs, only the newest wish waits, so a user clicking through ten models builds
two, not ten. Results come back on the GUI thread and go to ``session.set_module``, which
refuses any the user has left.

Weights that cannot be had never leave the view empty: the weights shown before (same
model) come back, or, for a model shown for the first time, its seeded random weights, and
the status bar says why.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, qWarning

from explorer.session import Session, WeightsChoice
from explorer.ui.subscriptions import Subscriptions


class _BuildThread(QThread):
    built = Signal(object)  # (name, wanted, Built)
    failed = Signal(object)  # (name, wanted, message)

    def __init__(self, name: str, wanted: WeightsChoice | None, fallback_for: WeightsChoice | None,
                 parent: QObject) -> None:
        super().__init__(parent)
        self.name = name
        self.wanted = wanted
        self.fallback_for = fallback_for

    def run(self) -> None:
        from explorer.models.choices import resolve_and_build

        try:
            built = resolve_and_build(self.name, self.wanted)
        except Exception as exc:  # noqa: BLE001 - any failure is reported in the window
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.failed.emit((self.name, self.wanted, self.fallback_for, text))
            return
        self.built.emit((self.name, self.wanted, self.fallback_for, built))


class ModuleBuilder(QObject):
    """Keeps ``session.module`` built for ``(session.model_name, session.weights)``."""

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._thread: _BuildThread | None = None
        self._pending: tuple[str, WeightsChoice | None, WeightsChoice | None] | None = None
        # Modules built for the current model, by weights: switching back is instant, and
        # weights that fail to load can fall back to the ones shown before.
        self._built: dict[WeightsChoice, Any] = {}
        self._built_for: str | None = None
        self._shown: WeightsChoice | None = None
        self._stopped = False
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.weights_changed, self._on_weights_changed)
        self._subscriptions.connect(session.module_changed, self._on_module_changed)

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Take no more requests and wait for the running build; a build that does not
        finish in time is reported as a Qt warning and False is returned."""
        self._stopped = True
        self._pending = None
        self._subscriptions.clear()
        thread = self._thread
        if thread is not None and not thread.wait(timeout_ms):
            qWarning(f"building {thread.name} still running after {timeout_ms} ms")
            return False
        return True

    # ----- session events ----------------------------------------------------------------

    def _on_weights_changed(self, session: Session) -> None:
        if session.module is not None or session.model_name is None:
            return  # the builder itself delivered it (a resolved default)
        if session.model_name != self._built_for:
            self._built = {}
            self._built_for = session.model_name
            self._shown = None
        cached = self._built.get(session.weights) if session.weights is not None else None
        if cached is not None:
            session.set_module(session.model_name, session.weights, cached)
            return
        self._request(session.model_name, session.weights, None)

    def _on_module_changed(self, session: Session) -> None:
        if session.module is not None and session.model_name == self._built_for:
            self._shown = session.weights
            # Keep only what was shown and the new module: a VGG costs 550 MB.
            self._built = {w: m for w, m in self._built.items() if m is session.module or w == self._shown}

    # ----- building ----------------------------------------------------------------------

    def _request(self, name: str, wanted: WeightsChoice | None, fallback_for: WeightsChoice | None) -> None:
        self._pending = (name, wanted, fallback_for)
        self._start_next()

    def _start_next(self) -> None:
        if self._thread is not None or self._pending is None or self._stopped:
            return
        name, wanted, fallback_for = self._pending
        self._pending = None
        if name != self.session.model_name:
            return
        thread = _BuildThread(name, wanted, fallback_for, self)
        thread.built.connect(self._on_built)
        thread.failed.connect(self._on_failed)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        thread.start()

    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        self._start_next()

    def _on_built(self, result: tuple) -> None:
        name, wanted, fallback_for, built = result
        session = self.session
        if name != session.model_name or self._stopped:
            return
        if name == self._built_for:
            self._built[built.choice] = built.model
        # A fallback (ImageNet wanted, random given) is delivered for the request it answers
        # and is not remembered: next time the wanted weights are tried again. So is a run's
        # choice whose epoch was corrected to the one its checkpoint holds now.
        answered = built.fallback or (built.wanted is not None and built.choice != built.wanted)
        requested = fallback_for if fallback_for is not None else (built.wanted if answered else None)
        if session.set_module(name, built.choice, built.model, requested=requested):
            session.notify(built.notice)

    def _on_failed(self, result: tuple) -> None:
        name, wanted, fallback_for, message = result
        session = self.session
        if name != session.model_name or self._stopped or wanted != session.weights:
            return
        label = wanted.label() if wanted is not None else "default weights"
        previous = self._shown
        if previous is not None and previous in self._built and previous != wanted:
            session.notify(f"{name}: cannot use {label}: {message}; keeping {previous.label()}")
            session.set_weights(previous)
        elif fallback_for is None and wanted is not None and wanted.kind != "random":
            from explorer.models.choices import seed_for

            session.notify(f"{name}: cannot use {label}: {message}; showing random weights")
            self._request(name, WeightsChoice("random", seed=seed_for(name)), wanted)
        else:
            session.notify(f"{name}: {message}")
            session.module_failed(name, wanted, message)
