"""One pause/stop control shared by the engine and whoever drives it."""

from __future__ import annotations

import threading


class TrainControl:
    """Thread-safe pause/stop flags checked by the engine between batches."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._stopped = False

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stop_requested(self) -> bool:
        return self._stopped

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def wait_while_paused(self) -> None:
        with self._cond:
            while self._paused and not self._stopped:
                self._cond.wait()
