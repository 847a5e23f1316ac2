"""LatestJob: a view's answer and its "busy" agree, whatever the worker thread is still doing."""

from __future__ import annotations

from explorer.ui.background import LatestJob


def _square(x: int) -> int:
    return x * x


def _fail() -> None:
    raise ValueError("no")


def test_not_busy_once_the_answer_arrives(qtbot):
    job = LatestJob("square")
    seen = []
    job.done.connect(lambda number, value: seen.append((number, value, job.busy)))
    number = job.submit(_square, 7)
    assert job.busy
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert seen == [(number, 49, False)]  # the worker may still be unwinding: not busy to a view
    qtbot.waitUntil(lambda: job._worker is None, timeout=10_000)
    assert not job.busy


def test_not_busy_once_the_failure_arrives(qtbot):
    job = LatestJob("fail")
    seen = []
    job.failed.connect(lambda number, text: seen.append((text, job.busy)))
    job.submit(_fail)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert seen == [("fail failed: ValueError: no", False)]


def test_a_request_made_while_one_runs_is_busy_until_its_own_answer(qtbot):
    job = LatestJob("square")
    answers = []
    job.done.connect(lambda number, value: answers.append(value))
    job.submit(_square, 2)
    job.submit(_square, 3)  # the first one's answer is dropped; this one runs next
    assert job.busy
    qtbot.waitUntil(lambda: bool(answers) and not job.busy, timeout=10_000)
    assert answers == [9]
    job.stop()
