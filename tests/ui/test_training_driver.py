"""RunDriver's shutdown: a worker that does not end in time is killed or reported, never
silently left behind."""

from __future__ import annotations

import logging

import pytest

from explorer.session import Session
from explorer.train import RunHistory, TrainConfig
from explorer.ui.training import driver as training_driver
from explorer.ui.training.driver import RunDriver


class StuckWorker:
    """A worker that ignores stop; ``kill`` ends it when ``killable``."""

    killable = False
    made: list = []

    def __init__(self, *args, **kwargs):
        StuckWorker.made.append(self)
        self.running = False
        self.paused = False
        self.stopped = self.killed = False

    def start(self):
        self.running = True

    def stop(self):
        self.stopped = True

    def join(self, timeout_s=None):
        return not self.running

    def kill(self):
        self.killed = True
        self.running = not self.killable

    def drain(self):
        return []


@pytest.fixture
def session():
    return Session()


def started_driver(qtbot, tmp_path, session, monkeypatch, worker_class, in_process):
    name = "TrainingWorker" if in_process else "TrainingProcess"
    monkeypatch.setattr(training_driver, name, worker_class)
    driver = RunDriver(session, RunHistory(tmp_path / "runs"), in_process=in_process)
    driver.start(TrainConfig(model="lenet_small", epochs=1))
    return driver


def test_a_thread_that_does_not_stop_is_reported(qtbot, tmp_path, session, monkeypatch, caplog):
    messages = []
    session.message.connect(messages.append)
    driver = started_driver(qtbot, tmp_path, session, monkeypatch, StuckWorker, in_process=True)
    with caplog.at_level(logging.WARNING, logger=training_driver.__name__):
        assert driver.shutdown(timeout_ms=10) is False
    assert any("did not stop within 10 ms" in m for m in messages)
    assert "lenet_small did not stop" in caplog.text


def test_a_process_that_does_not_stop_is_killed(qtbot, tmp_path, session, monkeypatch):
    class Killable(StuckWorker):
        killable = True

    driver = started_driver(qtbot, tmp_path, session, monkeypatch, Killable, in_process=False)
    assert driver.shutdown(timeout_ms=10) is True
    assert StuckWorker.made[-1].killed


def test_a_process_that_survives_kill_is_reported(qtbot, tmp_path, session, monkeypatch):
    messages = []
    session.message.connect(messages.append)
    driver = started_driver(qtbot, tmp_path, session, monkeypatch, StuckWorker, in_process=False)
    assert driver.shutdown(timeout_ms=10) is False
    assert any("did not stop" in m for m in messages)
