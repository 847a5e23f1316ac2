"""Drives one training worker for the Training tab and records it in ``session.training``.

The engine runs in a ``TrainingProcess`` (or, with ``in_process``, on a ``TrainingWorker``
thread); a timer owned by the driver drains its events on the GUI thread a few times per
second, so widgets are only touched there however fast batches arrive. Run-level facts
(started, epoch, paused, ended) go into the session; batches, too frequent for it, go out
through the ``batch`` signal.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal

from explorer.session import Session
from explorer.train import BatchMetrics, EpochMetrics, RunFinished, RunHistory, RunStarted, StateChanged, TrainConfig
from explorer.train.runner import TrainingProcess, TrainingWorker, WorkerDone, WorkerFailed

log = logging.getLogger(__name__)

# RunFinished.status -> the session's run state.
FINAL_STATES = {"completed": "finished", "stopped": "stopped"}


def status_line(text: str) -> str:
    """The one line of ``text`` the status bar shows (its first, "…" when more follow);
    the Training tab shows the whole message in place."""
    lines = text.strip().splitlines() or [""]
    return lines[0] + (" …" if len(lines) > 1 else "")


class RunDriver(QObject):
    """Starts, pauses, stops and waits for the training worker; one run at a time.

    Signals:
        batch(object): a BatchMetrics.
        ended(str): the engine's last word: ``completed`` or ``stopped`` (RunFinished), or
            ``failed`` with the message in ``failure``.
        done(): the worker has ended for good (after ``ended``).
        drained(): a batch of events was handled (repaint what they changed, once).
    """

    batch = Signal(object)
    drained = Signal()
    ended = Signal(str)
    done = Signal()

    def __init__(self, session: Session, history: RunHistory, *, refresh_ms: int = 100, in_process: bool = False,
                 download: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._history = history
        self._in_process = in_process
        self._download = download
        self.data_dir: str | None = None
        self._worker: TrainingWorker | TrainingProcess | None = None
        self._running = False
        self._final_state = "finished"
        self.engine_state = "idle"  # what the engine last reported ("paused" once it stopped stepping)
        self.last_status: str | None = None
        self.failure = ""
        self._timer = QTimer(self)
        self._timer.setInterval(refresh_ms)
        self._timer.timeout.connect(self._on_refresh)

    @property
    def running(self) -> bool:
        """A run was started and its worker has not reported the end yet."""
        return self._running

    @property
    def paused(self) -> bool:
        return self._running and self._worker.paused

    def start(self, config: TrainConfig, resume: str | None = None) -> None:
        options = dict(data_root=self.data_dir, download=self._download, history=self._history,
                       resume=resume or None, checkpoint_path=resume or None)
        if self._in_process:
            from explorer.train import Trainer

            self._worker = TrainingWorker(Trainer(config, **options))
        else:
            self._worker = TrainingProcess(config, **options)
        self._running = True
        self.engine_state = "running"
        self.last_status = None
        self.failure = ""
        self._final_state = "finished"
        self._worker.start()
        self._session.training.start(config.model, config)
        self._timer.start()

    def pause(self) -> None:
        if self._running and not self._worker.paused:
            self._worker.pause()

    def resume(self) -> None:
        if self._running and self._worker.paused:
            self._worker.resume()

    def stop(self) -> None:
        """Ask the run to stop after the current batch; the last checkpoint stays."""
        if self._running:
            self._worker.stop()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop the run for good and wait for its worker.

        The engine stops within one batch; the checkpoint of the last finished epoch is
        already on disk and is never half-written (it is replaced atomically), so nothing
        is lost by not waiting longer than ``timeout_ms``.

        Returns:
            True when no worker is left running; False (and a logged warning and a
            session notice) when it did not end in time.
        """
        self._timer.stop()
        worker = self._worker
        if worker is None:
            return True
        worker.stop()
        ended = worker.join(timeout_ms / 1000.0)
        if not ended and isinstance(worker, TrainingProcess):
            # Stuck outside the step loop (a download, say): end it.
            worker.kill()
            ended = not worker.running
        if not ended:
            text = f"training of {self._session.training.model_name} did not stop within {timeout_ms} ms"
            log.warning(text)
            self._session.notify(text)
        if self._running:
            self._handle(worker.drain())
        return ended

    def _on_refresh(self) -> None:
        if self._worker is None:
            self._timer.stop()
            return
        self._handle(self._worker.drain())

    def _handle(self, events: list) -> None:
        run = self._session.training
        for event in events:
            if isinstance(event, BatchMetrics):
                if self.engine_state != "paused":
                    self.engine_state = "running"
                self.batch.emit(event)
            elif isinstance(event, EpochMetrics):
                run.record_epoch(event.epoch, event, event.checkpoint)
            elif isinstance(event, RunStarted):
                # A resumed run trains its checkpoint's config: the label names that one.
                run.start(event.config.model, event.config, run_id=event.run_id, checkpoint=event.checkpoint)
            elif isinstance(event, StateChanged):
                self.engine_state = event.state
                paused = event.state == "paused"
                run.set_state("paused" if paused else "running")
                self._session.notify("training paused" if paused else "training resumed")
            elif isinstance(event, RunFinished):
                self.last_status = self.engine_state = event.status
                self._final_state = FINAL_STATES.get(event.status, event.status)
                final = event.record.final
                if event.status == "completed" and final.test_acc is not None:
                    self._session.notify(f"{event.record.model}: test accuracy {final.test_acc:.3f} "
                                         f"after {final.epochs} epochs")
                else:
                    self._session.notify(f"{event.record.model}: {event.status}")
                self.ended.emit(event.status)
            elif isinstance(event, WorkerFailed):
                self.last_status = self.engine_state = "failed"
                self._final_state = "diverged" if "diverged" in event.message else "failed"
                self.failure = event.message
                self._session.notify(status_line(event.message))  # the Training tab shows it whole
                self.ended.emit("failed")
            elif isinstance(event, WorkerDone):
                self._running = False
                self._timer.stop()
                run.set_state(self._final_state, run.message)
                self.done.emit()
        self.drained.emit()
