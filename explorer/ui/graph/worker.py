"""Talks to the graph subprocess (``python -m explorer.graph.service --serve``) without blocking.

QProcess delivers the replies through the event loop, so the GUI thread only parses JSON
and builds items; tracing and layout run in the other process (a QThread would hold
the interpreter lock and stall the window).
"""

from __future__ import annotations

import atexit
import json
import sys
from typing import Any

from PySide6.QtCore import QByteArray, QCoreApplication, QObject, QProcess, Signal


class GraphWorkerClient(QObject):
    """One long-lived worker process shared by every graph panel.

    Signals:
        replied(dict): a reply, matched to its request by ``id``.
        crashed(str): the process died; requests in flight get no reply (the next
            request starts a fresh process).
    """

    # object, not dict: Signal(dict) converts the reply to a QVariantMap and back, which
    # took ~50 ms on the GUI thread for DenseNet-201's 1 MB reply.
    replied = Signal(object)
    crashed = Signal(str)

    _shared: GraphWorkerClient | None = None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._buffer = QByteArray()
        self._stderr = b""
        self._next_id = 1
        self._pending: list[bytes] = []
        self._in_flight: set[int] = set()
        self.ready = False

    @classmethod
    def shared(cls) -> GraphWorkerClient:
        """The application's client, created on first use and stopped when the app quits."""
        app = QCoreApplication.instance()
        if cls._shared is None or cls._shared.parent() is not app:
            cls._shared = cls(app)
            if app is not None:
                app.aboutToQuit.connect(cls._shared.shutdown)
            # Tests and scripts never run the event loop to its end: stop it at exit too.
            atexit.register(cls._shared.shutdown)
        return cls._shared

    def start(self) -> None:
        """Start the process now (it takes a second or two to import torch)."""
        if self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning:
            return
        self.ready = False
        self._buffer = QByteArray()
        self._stderr = b""
        process = QProcess(self)
        process.setProgram(sys.executable)
        process.setArguments(["-m", "explorer.graph.service", "--serve"])
        process.readyReadStandardOutput.connect(self._on_stdout)
        process.readyReadStandardError.connect(self._on_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        process.started.connect(self._on_started)
        self._process = process
        process.start()

    def request(self, payload: dict[str, Any]) -> int:
        """Send a request; returns its id (the reply carries it)."""
        request_id = self._next_id
        self._next_id += 1
        data = json.dumps({**payload, "id": request_id}).encode() + b"\n"
        self._in_flight.add(request_id)
        self.start()
        if self._process is not None and self._process.state() == QProcess.ProcessState.Running:
            self._process.write(data)
        else:
            self._pending.append(data)
        return request_id

    def shutdown(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.finished.disconnect(self._on_finished)
        process.closeWriteChannel()
        if not process.waitForFinished(2000):
            process.kill()
            process.waitForFinished(1000)

    def _on_started(self) -> None:
        for data in self._pending:
            self._process.write(data)
        self._pending.clear()

    def _on_stdout(self) -> None:
        if self._process is None:
            return
        self._buffer += self._process.readAllStandardOutput()
        while True:
            index = self._buffer.indexOf(b"\n")
            if index < 0:
                break
            line = bytes(self._buffer.left(index))
            self._buffer = self._buffer.mid(index + 1)
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            if reply.get("ready"):
                self.ready = True
                continue
            self._in_flight.discard(reply.get("id"))
            self.replied.emit(reply)

    def _on_stderr(self) -> None:
        if self._process is not None:
            self._stderr = (self._stderr + bytes(self._process.readAllStandardError()))[-4000:]

    def _on_finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._process = None
        if self._in_flight or code != 0:
            self._in_flight.clear()
            tail = self._stderr.decode(errors="replace").strip().splitlines()
            detail = f": {tail[-1]}" if tail else ""
            self.crashed.emit(f"the graph worker stopped unexpectedly (exit code {code}){detail}")

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._process = None
            self._in_flight.clear()
            self.crashed.emit(f"cannot start the graph worker ({sys.executable})")
