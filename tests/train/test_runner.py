"""The child-process worker reports a child that dies without a word."""

from __future__ import annotations

from explorer.train import RunHistory, TrainConfig
from explorer.train.runner import TrainingProcess, WorkerDone, WorkerFailed


def test_killed_child_is_reported_once(tmp_path, qtbot):
    worker = TrainingProcess(TrainConfig(model="lenet_small", device="cpu"), data_root=str(tmp_path),
                             history=RunHistory(tmp_path / "runs"))
    worker.start()
    worker.kill()
    events = []
    qtbot.waitUntil(lambda: bool(events.extend(worker.drain()) or any(isinstance(e, WorkerDone) for e in events)),
                    timeout=30_000)
    failures = [e for e in events if isinstance(e, WorkerFailed)]
    assert len(failures) == 1 and "ended unexpectedly" in failures[0].message
    assert worker.drain() == []
