"""Runs the training engine off the GUI thread for the training panel.

Two interchangeable workers iterate ``Trainer.run()`` and put its events in a queue that
the panel drains from a timer a few times per second (so UI work is throttled however fast
batches arrive, and widgets are only touched on the GUI thread):

- ``TrainingProcess`` (the panel's default) trains in a spawned child process. The GUI
  process then never competes for the interpreter lock with the training loop. With a
  thread, every Qt call pyqtgraph makes while painting releases and re-takes the lock,
  and each re-take can wait for the trainer's switch interval: on a 2-core machine
  that stalled the GUI thread for 60-110 ms at a time.
- ``TrainingWorker`` trains on a thread of this process: no start-up cost, used where
  the run must share objects with the caller (a model instance, patched functions).

Neither module-level code nor the child imports Qt.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import multiprocessing
import os
import queue
import threading
import time
from typing import Any

import torch

from explorer.errors import UserError
from explorer.train import BatchMetrics, EpochMetrics, RunStarted, TrainConfig, Trainer, cpu_copy
from explorer.train import TrainControl, build_model, keep_freed_memory
from explorer.train.history import RunHistory


# How much lower the training process's priority is than the window's. With both at the
# same priority the two processes shared the cores evenly and a repaint that needs 10 ms
# took 30-80 ms (heartbeat gaps up to 110 ms on 2 cores); at +5 the window's thread wins
# a core whenever it wakes (gaps 27-41 ms) and training keeps the cores the rest of the
# time, as the graph worker does.
CHILD_NICE = 5
# Batches without new losses reach the window at most this often (see _child_main).
BATCH_SEND_INTERVAL_S = 0.1


@dataclasses.dataclass
class WorkerFailed:
    """The run ended with an error; ``message`` is one line for the status bar."""

    message: str


@dataclasses.dataclass
class WorkerDone:
    """The worker has finished (after RunFinished or WorkerFailed)."""


class _Worker:
    """Shared queue draining and state for both workers."""

    events: Any
    started: RunStarted | None = None

    def drain(self, limit: int = 100_000) -> list:
        """Events that arrived since the last call, oldest first."""
        out = []
        while len(out) < limit:
            try:
                event = self._next_event()
            except queue.Empty:
                break
            event = self._receive(event)
            if isinstance(event, RunStarted):
                self.started = event
            out.append(event)
        return out

    def _next_event(self) -> Any:
        return self.events.get_nowait()

    def _receive(self, event: Any) -> Any:
        return event

    @property
    def checkpoint_path(self) -> str | None:
        return self.started.checkpoint if self.started else None


# ----------------------------------------------------------------------------- thread


class TrainingWorker(_Worker):
    """One training run on a daemon thread of this process.

    Args:
        trainer: the configured run; its ``control`` is used for pause and stop.
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="cnn-explorer-training", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self.trainer.run():
                if isinstance(event, EpochMetrics):
                    # The generator is suspended here, so the live model is not changing:
                    # copy it for the views before the next step touches it.
                    event = dataclasses.replace(event, model=cpu_copy(event.model))
                self.events.put(event)
        except UserError as exc:
            self.events.put(WorkerFailed(str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown in the window, which keeps working
            self.events.put(WorkerFailed(f"training failed: {type(exc).__name__}: {exc}"))
        finally:
            self.events.put(WorkerDone())

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def paused(self) -> bool:
        return self.trainer.control.paused

    def pause(self) -> None:
        self.trainer.control.pause()

    def resume(self) -> None:
        self.trainer.control.resume()

    def stop(self) -> None:
        self.trainer.control.stop()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the thread; True if it has ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
        return not self._thread.is_alive()


# ----------------------------------------------------------------------------- process


class _EventControl(TrainControl):
    """TrainControl over two process-shared events (pause, stop)."""

    def __init__(self, pause_event, stop_event) -> None:
        super().__init__()
        self._pause_event = pause_event
        self._stop_event = stop_event

    @property
    def paused(self) -> bool:
        return self._pause_event.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_event.is_set()

    def pause(self) -> None:
        self._pause_event.set()

    def resume(self) -> None:
        self._pause_event.clear()

    def stop(self) -> None:
        self._stop_event.set()

    def wait_while_paused(self) -> None:
        # Two events cannot be waited on together; a 50 ms poll is quick enough for a click.
        while self._pause_event.is_set() and not self._stop_event.is_set():
            self._stop_event.wait(0.05)


@dataclasses.dataclass
class _EpochPayload:
    """An EpochMetrics sent between processes: arrays instead of tensors and no module
    (plain pickling, no shared-memory handles that die with the child)."""

    metrics: EpochMetrics
    images: Any
    state: dict[str, Any]


def _child_main(config: dict, options: dict, events, pause_event, stop_event) -> None:
    """Entry point of the training process."""
    try:
        keep_freed_memory()
        torch.set_num_threads(options.pop("threads"))
        history = options.pop("history_folder")
        trainer = Trainer(
            TrainConfig.from_dict(config),
            control=_EventControl(pause_event, stop_event),
            history=RunHistory(history) if history else None,
            **options,
        )
        last_sent = 0.0
        for event in trainer.run():
            if isinstance(event, BatchMetrics):
                # The panel shows progress ten times a second: a batch that brings no new
                # losses is sent only if the last one sent is older than that, which keeps
                # both processes' per-batch pickling and the window's draining small.
                now = time.monotonic()
                if not event.losses and event.batch < event.batches and now - last_sent < BATCH_SEND_INTERVAL_S:
                    continue
                last_sent = now
            elif isinstance(event, EpochMetrics):
                state = {k: v.detach().cpu().numpy() for k, v in event.model.state_dict().items()}
                images = event.misclassified.images.numpy()
                plain = dataclasses.replace(
                    event,
                    model=None,
                    misclassified=dataclasses.replace(event.misclassified, images=None),
                )
                event = _EpochPayload(plain, images, state)
            events.put(event)
    except UserError as exc:
        events.put(WorkerFailed(str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported in the window
        events.put(WorkerFailed(f"training failed: {type(exc).__name__}: {exc}"))
    finally:
        events.put(WorkerDone())
        events.close()
        events.join_thread()


def _lower_priority(pid: int, nice: int) -> None:
    """Raise a just-started child's nice value by ``nice`` (POSIX; a no-op elsewhere).

    Done from the parent right after the start, so the child's imports (a second of CPU)
    already run at the lower priority; threads the child starts later inherit it.
    """
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, min(os.getpriority(os.PRIO_PROCESS, 0) + nice, 19))


class TrainingProcess(_Worker):
    """One training run in a spawned child process.

    Args:
        config: the run's options.
        data_root: folder holding ``FashionMNIST/raw`` (None: ``settings.data_dir()``).
        download: allow torchvision to download missing data.
        history: where the run is recorded (its folder is passed to the child).
        checkpoint_path: as for ``Trainer`` (None: the default per-run path).
        resume: a checkpoint to continue from.
        threads: intra-op threads for the child (default: this process's setting).
        nice: how much to lower the child's priority below this process's (default
            ``CHILD_NICE``; 0 keeps it equal).
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        data_root: str | None = None,
        download: bool = False,
        history: RunHistory | None = None,
        checkpoint_path: str | None = None,
        resume: str | None = None,
        threads: int | None = None,
        nice: int | None = None,
    ) -> None:
        self.config = config
        context = multiprocessing.get_context("spawn")
        self.events = context.Queue()
        self._pause = context.Event()
        self._stop = context.Event()
        options = {
            "data_root": data_root,
            "download": download,
            "checkpoint_path": checkpoint_path,
            "resume": resume,
            "history_folder": str(history.folder) if history else None,
            "threads": threads or torch.get_num_threads(),
        }
        self._nice = CHILD_NICE if nice is None else nice
        self._process = context.Process(
            target=_child_main,
            args=(config.to_dict(), options, self.events, self._pause, self._stop),
            name="cnn-explorer-training",
            daemon=True,
        )
        self._pending: list = []
        self._finished = False
        self._template: torch.nn.Module | None = None

    def start(self) -> None:
        self._process.start()
        _lower_priority(self._process.pid, self._nice)

    def _receive(self, event: Any) -> Any:
        if isinstance(event, WorkerDone):
            self._finished = True
        if isinstance(event, _EpochPayload):
            # Rebuild the trained model here from its weights, for the graph and feature
            # map views. The registry build (5-15 ms on the GUI thread) happens once per
            # run; each epoch copies that template, about a millisecond for a small model.
            metrics = event.metrics
            if self._template is None:
                # A resumed run trains the checkpoint's config, which RunStarted reported.
                self._template, _ = build_model(self.started.config if self.started else self.config)
                self._template.eval()
            model = copy.deepcopy(self._template)
            model.load_state_dict({k: torch.from_numpy(v) for k, v in event.state.items()})
            misclassified = dataclasses.replace(metrics.misclassified, images=torch.from_numpy(event.images))
            return dataclasses.replace(metrics, model=model, misclassified=misclassified)
        return event

    @property
    def running(self) -> bool:
        return self._process.is_alive()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def pause(self) -> None:
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the process; True if it has ended.

        The child's queue must be read while waiting: a process that still has data to
        flush into a full pipe cannot exit. Events read here are kept for ``drain``.
        """
        if self._process.pid is None:
            return True
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._process.is_alive():
            self._pending.extend(self._read_available())
            if deadline is not None and time.monotonic() > deadline:
                break
            self._process.join(0.05)
        self._pending.extend(self._read_available())
        return not self._process.is_alive()

    def _read_available(self) -> list:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def _next_event(self) -> Any:
        if self._pending:
            return self._pending.pop(0)
        try:
            return self.events.get_nowait()
        except queue.Empty:
            if self._finished or self._process.pid is None or self._process.is_alive():
                raise
        # The child ended without saying so (killed by the system, crashed in C code, or
        # its start failed): report it once, or the panel would wait forever.
        self._pending.extend(self._read_available())
        if self._pending:
            return self._pending.pop(0)
        self._finished = True
        code = self._process.exitcode
        self._pending.append(WorkerDone())
        return WorkerFailed(f"the training process ended unexpectedly (exit code {code})")

    def kill(self) -> None:
        """Last resort when the child does not stop: checkpoints stay whole (atomic)."""
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)

