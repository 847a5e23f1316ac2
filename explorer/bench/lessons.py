"""`cnn-explorer bench lessons`: the Lessons tab's speed goals (issue 18).

- live_first_ms: each live lesson's demonstration computed for the first time, in the
  window: a fresh process opens it off screen as a first launch does (fresh settings and
  caches) and waits until its first model's maps are shown (not timed); then the lesson's
  demonstration is timed. What a user waits for on a page the tab's background measuring
  has not reached yet. Each lesson's figure is the median of three such processes (one
  with ``--quick``): one alone moves by tens of milliseconds on this shared machine. The
  check is the slowest lesson, at most 100 ms.
- page_open_ms: each lesson's page made, filled with its outcome (measured beforehand),
  laid out at 1200x800 and painted, off screen: what opening a measured page costs. The
  check is the slowest page, at most 300 ms (median of three openings per page, one with
  ``--quick``).
- experiment_s: each training experiment's shipped measurement, as its document records
  it (its seconds and the load average it ran at): each at most 600 s on the two cores.

Each child process prints one JSON line. The load average at the start and the end is
reported: the figures are meant for a quiet machine.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from explorer.bench import child_result

LIVE_LIMIT_MS = 100.0
PAGE_LIMIT_MS = 300.0
EXPERIMENT_LIMIT_S = 600.0
CHILD_TIMEOUT_S = 300.0
PAGE_REPEATS = 3
LIVE_REPEATS = 3


def _child(args: list[str]) -> dict[str, Any]:
    """``args`` run in a fresh process off screen, with fresh settings and caches: its JSON line."""
    with tempfile.TemporaryDirectory(prefix="cnn-explorer-bench-lessons-") as home:
        return child_result("lessons", args, home, CHILD_TIMEOUT_S, QT_QPA_PLATFORM="offscreen")


def _first_demonstration(name: str) -> None:
    """Open the window off screen as a first launch does, wait until its maps are shown, then
    time the lesson's first demonstration in it."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from explorer.lessons import get_lesson
    from explorer.settings import Settings
    from explorer.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(Settings())
    window.show()
    loop = QEventLoop()

    def ready() -> None:
        panel, session = window.feature_panel, window.session
        if (panel is not None and session.module is not None and panel.settled and panel.view_state is not None
                and panel.view_state.model_name == session.model_name):
            loop.quit()

    poll = QTimer()
    poll.timeout.connect(ready)
    poll.start(20)
    QTimer.singleShot(int(CHILD_TIMEOUT_S * 1000) - 10_000, loop.quit)
    loop.exec()
    poll.stop()
    lesson = get_lesson(name)
    start = time.perf_counter()
    lesson.demonstrate()
    first = time.perf_counter() - start
    window.close()
    app.processEvents()
    print(json.dumps({"lesson": name, "first_ms": 1000 * first, "model": window.session.model_name}))


def _page_openings(repeats: int) -> None:
    from PySide6.QtWidgets import QApplication, QScrollArea

    from explorer.lessons import all_lessons
    from explorer.ui.lessons.page import LessonPage
    from explorer.ui.lessons.view import measure

    app = QApplication.instance() or QApplication([])
    times: dict[str, float] = {}
    for lesson in all_lessons():
        outcome, note = measure(lesson)
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            scroll = QScrollArea()
            page = LessonPage(lesson)
            if outcome is not None:
                page.outcome_view.set_outcome(outcome, note)
            scroll.setWidget(page)
            scroll.setWidgetResizable(True)
            scroll.resize(1200, 800)
            scroll.show()
            scroll.grab()  # laid out and painted
            runs.append(time.perf_counter() - start)
            scroll.close()
            scroll.deleteLater()
            app.processEvents()
        times[lesson.name] = 1000 * statistics.median(runs)
    print(json.dumps({"page_ms": times}))


def run(quick: bool = False) -> dict[str, Any]:
    from explorer.lessons import all_lessons, read_shipped

    load_start = os.getloadavg()
    lessons = all_lessons()
    live_runs = {lesson.name: [_child(["--live", lesson.name])["first_ms"] for _ in range(1 if quick else LIVE_REPEATS)]
                 for lesson in lessons if lesson.experiment is None}
    live = {name: statistics.median(runs) for name, runs in live_runs.items()}
    repeats = 1 if quick else PAGE_REPEATS
    pages = _child(["--pages", str(repeats)])["page_ms"]
    slowest_live = max(live, key=live.get)
    slowest_page = max(pages, key=pages.get)
    checks = [
        {"name": "live_first_ms", "value": live[slowest_live], "unit": "ms", "limit": LIVE_LIMIT_MS,
         "passed": live[slowest_live] <= LIVE_LIMIT_MS,
         "note": f"slowest: {slowest_live}; median of {len(live_runs[slowest_live])} per lesson; "
                 + ", ".join(f"{n} {ms:.0f}" for n, ms in live.items())},
        {"name": "page_open_ms", "value": pages[slowest_page], "unit": "ms", "limit": PAGE_LIMIT_MS,
         "passed": pages[slowest_page] <= PAGE_LIMIT_MS,
         "note": f"slowest: {slowest_page}; median of {repeats} per page; "
                 + ", ".join(f"{n} {ms:.0f}" for n, ms in pages.items())},
    ]
    for lesson in lessons:
        if lesson.experiment is None:
            continue
        document = read_shipped(lesson.name)
        seconds = float(document["seconds"]) if document and "seconds" in document else None
        load = document.get("load_average") if document else None
        checks.append({"name": f"experiment_s:{lesson.name}", "value": seconds, "unit": "s",
                       "limit": EXPERIMENT_LIMIT_S, "passed": None if seconds is None else seconds <= EXPERIMENT_LIMIT_S,
                       "note": "no shipped result" if seconds is None else
                               f"shipped measurement, load average {load[0]} at the start, {load[1]} at the end"})
    return {"suite": "lessons", "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
            "live_first_ms": live, "live_first_runs_ms": live_runs, "page_open_ms": pages, "checks": checks}


if __name__ == "__main__":
    if sys.argv[1] == "--live":
        _first_demonstration(sys.argv[2])
    else:
        _page_openings(int(sys.argv[2]))
