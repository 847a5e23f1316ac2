"""Where the graph panel's graphs come from: the graph subprocess for zoo models, a worker
thread for a user's own ``nn.Module``.

Each request carries the panel's *generation*; results come back with it through
``prepared``/``failed`` and the panel drops those of a generation it has left. One request
is in flight per source: clicking through twenty models while the subprocess traces the
first sends the twentieth next, not nineteen stale ones. Replies are parsed in separate
turns of the event loop (DenseNet-201's graph and view are ~1 MB of JSON), each deferred
call with this object as its context, so none runs after it is gone.
"""

from __future__ import annotations

import dataclasses

import functools
import gc
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal, qWarning

from explorer.errors import UserError
from explorer.graph import Layout, ModelGraph, ViewGraph, ViewState
from explorer.ui.graph.worker import GraphWorkerClient

_startup_frozen = False


def freeze_startup_objects() -> None:
    """Keep the garbage collector's full passes off the objects the app starts with.

    By the time the first graph panel opens, torch, Qt and the model zoo have made a few
    hundred thousand objects that live as long as the app. Each graph reply adds tens of
    thousands more, and every few replies Python runs a full collection over all of
    them: a 200 ms stall of the GUI thread seen on a 2-core machine. Frozen (after one
    collection, so no garbage is kept), they are skipped; collections then scan only
    what came later. Once per process.
    """
    global _startup_frozen
    if not _startup_frozen:
        _startup_frozen = True
        gc.collect()
        gc.freeze()


class GraphSource(QObject):
    """Prepares graphs and views off the GUI thread.

    Signals:
        prepared(object): ``(generation, graph, view, layout, ready)``; ``ready`` is True
            for a newly opened graph, False for another view of the same one.
        failed(object): ``(generation, message)``, the message for the user.
        notice(str): one line for the user about a graph that was shown all the same (a
            saved graph that was stale or damaged and was traced again).
    """

    prepared = Signal(object)
    failed = Signal(object)
    notice = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.generation = 0
        self._request_id: int | None = None
        self._queued: tuple[int, dict] | None = None
        self._threads = 0
        self.client = GraphWorkerClient.shared()
        self.client.replied.connect(self._on_reply)
        self.client.crashed.connect(self._on_crash)
        # Start the worker now: it needs a second or two to import torch, and forking a
        # small process is cheaper than forking the window after it has loaded models.
        self.client.start()

    # ----- requests ----------------------------------------------------------------------

    def open_name(self, generation: int, name: str, kwargs: dict, direction: str = "TB") -> None:
        self._send(generation, {"op": "open", "name": name, "kwargs": kwargs, "state": None,
                                "direction": direction})

    def view_name(self, generation: int, name: str, kwargs: dict, state: ViewState) -> None:
        self._send(generation, {"op": "view", "name": name, "kwargs": kwargs, "state": state.to_dict()})

    def open_module(self, generation: int, module: Any, input_shape: tuple, name: str,
                    direction: str = "TB") -> None:
        from explorer.graph import build_graph, default_state, prepare_view

        self.generation = generation

        def work():
            graph = build_graph(module, tuple(input_shape), name=name, fallback=True)
            state = dataclasses.replace(default_state(graph), direction=direction)
            return (generation, graph, *prepare_view(graph, state), True)

        self._run_thread(generation, work)

    def view_module(self, generation: int, graph: ModelGraph, state: ViewState) -> None:
        from explorer.graph import prepare_view

        self.generation = generation
        self._run_thread(generation, lambda: (generation, graph, *prepare_view(graph, state), False))

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Ignore everything still coming and wait for tracing threads; False (and a Qt
        warning) when they do not finish in time."""
        self.generation = -1
        self._queued = None
        if self._threads and not QThreadPool.globalInstance().waitForDone(timeout_ms):
            qWarning(f"graph tracing still running after {timeout_ms} ms")
            return False
        return True

    # ----- the subprocess ----------------------------------------------------------------

    def _send(self, generation: int, payload: dict) -> None:
        self.generation = generation
        if self._request_id is not None:
            self._queued = (generation, payload)
            return
        self._request_id = self.client.request(payload)

    def _on_reply(self, reply: dict) -> None:
        if reply.get("id") != self._request_id:
            return  # an answer to another panel's request
        self._request_id = None
        if self._queued is not None:
            (generation, payload), self._queued = self._queued, None
            self._send(generation, payload)  # this reply answers a request since replaced
            return
        generation = self.generation
        if not reply.get("ok"):
            self.failed.emit((generation, reply.get("error", "unknown error")))
            return
        if reply.get("notice"):
            self.notice.emit(str(reply["notice"]))
        QTimer.singleShot(0, self, functools.partial(self._parse_reply, generation, reply, None))

    def _parse_reply(self, generation: int, reply: dict, graph: ModelGraph | None) -> None:
        if generation != self.generation:
            return
        if graph is None and "graph" in reply:
            graph = ModelGraph.from_dict(reply["graph"])
            QTimer.singleShot(0, self, functools.partial(self._parse_reply, generation, reply, graph))
            return
        view = ViewGraph.from_dict(reply["view"])
        layout = Layout.from_dict(reply["layout"])
        self.prepared.emit((generation, graph, view, layout, "graph" in reply))

    def _on_crash(self, message: str) -> None:
        self._queued = None
        if self._request_id is not None:
            self._request_id = None
            self.failed.emit((self.generation, message))

    # ----- threads -----------------------------------------------------------------------

    def _run_thread(self, generation: int, work) -> None:
        from superqt.utils import create_worker

        def guarded():
            try:
                return work(), None
            except Exception as exc:  # noqa: BLE001 - handed to the GUI thread and shown
                text = str(exc) if isinstance(exc, UserError) else f"cannot draw the graph: {exc!r}"
                return None, (generation, text)

        worker = create_worker(guarded, _start_thread=False)
        # Bound methods of this object: Qt drops the connections when it goes.
        worker.returned.connect(self._on_thread_result)
        worker.finished.connect(self._on_thread_finished)
        self._threads += 1
        worker.start()

    def _on_thread_result(self, result: tuple) -> None:
        prepared, failure = result
        if failure is not None:
            self.failed.emit(failure)
        else:
            self.prepared.emit(prepared)

    def _on_thread_finished(self) -> None:
        self._threads -= 1
