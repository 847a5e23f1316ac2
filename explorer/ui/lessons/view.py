"""The Lessons tab: the list of lessons beside the chosen lesson's page.

A view of the session like the others: a link ("Open in graph: googlenet, inception3a")
moves the session to its model and node (``set_model``, ``set_node``) and asks the window,
through ``view_requested``, to bring that view to the front; nothing of another view is
copied here. Failures go to the status bar through ``session.notify``.

A page opens at once and is filled when its outcome is known. Outcomes are measured off
the GUI thread (a live lesson's demonstration takes from milliseconds to a second or two;
an experiment's shipped result is a file to read) by one
:class:`~explorer.ui.background.LatestJob`, and kept for the session; while the tab is
open the lessons not yet measured are measured one after another, the chosen one first, so
most pages are filled by the time they are opened. An experiment trained again runs on an
:class:`~explorer.ui.lessons.run.ExperimentRun`, one at a time; ``closeEvent`` stops and
waits for it and for the job.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from explorer.lessons.base import Lesson, Link, Outcome
from explorer.session import Session
from explorer.ui.background import LatestJob
from explorer.ui.lessons.lesson_list import LessonList
from explorer.ui.lessons.page import LessonPage
from explorer.ui.lessons.run import ExperimentRun
from explorer.ui.lessons.run_box import duration
from explorer.ui.theme import secondary

# What an outcome's page says over it, by where the outcome came from.
NO_SHIPPED = ("No shipped result yet: this experiment has not been run for the app. Run it yourself above "
              "to measure it here ({budget}).")


def load_lessons() -> tuple[list[Lesson], list[str]]:
    """Every lesson that imports, in order, and a line for each one that does not (a broken
    lesson costs only itself)."""
    import explorer.lessons as lessons

    try:
        return list(lessons.all_lessons()), []
    except Exception:  # noqa: BLE001 - one module failed: take the others one by one
        pass
    found, problems = [], []
    for module in lessons.MODULES:
        try:
            found.append(importlib.import_module(f"explorer.lessons.{module}").LESSON)
        except Exception as exc:  # noqa: BLE001 - listed under the lessons, not raised
            problems.append(f"{module}: {type(exc).__name__}: {exc}")
    return sorted(found, key=lambda lesson: lesson.number), problems


def measure(lesson: Lesson) -> tuple[Outcome | None, str]:
    """(The outcome a page opens with, a line on where it comes from); runs on a worker."""
    import explorer.lessons as lessons

    start = time.perf_counter()
    outcome = lessons.shipped_outcome(lesson)
    if lesson.experiment is None:
        return outcome, f"Measured now on the zoo's models ({time.perf_counter() - start:.2f} s)."
    if outcome is None:
        return None, NO_SHIPPED.format(budget=duration(lesson.experiment.budget_s))
    document = lessons.read_shipped(lesson.name) or {}
    made = [f"trained in {duration(float(document['seconds']))}" if "seconds" in document else "",
            str(document.get("machine", "")), str(document.get("data", ""))]
    return outcome, "The shipped result: " + "; ".join(part for part in made if part) + "."


def run_again(lesson: Lesson, progress: Any, *, quick: bool = False, should_stop: Any = None) -> Any:
    """``explorer.lessons.run_lesson``, looked up when called."""
    import explorer.lessons as lessons

    return lessons.run_lesson(lesson, progress, quick=quick, should_stop=should_stop)


class LessonsView(QWidget):
    """The Lessons tab.

    Args:
        session: the explorer's session (links move it).
        lessons: returns the lessons to list; ``load_lessons`` when None.
        quick: runs train a few steps only (tests).

    Signals:
        view_requested(str): a link's view ("graph", "tracer", "timemachine", "training",
            "maps") to bring to the front; the session already shows its model and node.
        outcome_shown(str): the named lesson's page now shows an outcome (or why none).
        run_ended(str, str): a rerun of the named lesson ended: "done", "stopped", "failed".
    """

    view_requested = Signal(str)
    outcome_shown = Signal(str)
    run_ended = Signal(str, str)

    def __init__(self, session: Session, lessons: Callable[[], Sequence[Lesson]] | None = None, *,
                 quick: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lessons-view")
        self.session = session
        self._source = lessons
        self._quick = quick
        self._lessons: dict[str, Lesson] = {}
        self._loaded = False
        self._closed = False
        self._outcomes: dict[str, tuple[Outcome | None, str]] = {}  # measured or shipped, with its note
        self._reruns: dict[str, tuple[Outcome, float]] = {}  # the user's runs this session
        self._problems: dict[str, str] = {}
        self._pages: dict[str, LessonPage] = {}
        self._scrolls: dict[str, QScrollArea] = {}
        self._requests: dict[int, str] = {}
        self._run: ExperimentRun | None = None
        self._job = LatestJob("lesson", self)
        self._job.done.connect(self._on_measured)
        self._job.failed.connect(self._on_measure_failed)
        self._build()

    def _build(self) -> None:
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(4, 4, 4, 4)
        self.list = LessonList()
        self.list.lesson_chosen.connect(self._on_lesson_chosen)
        column.addWidget(self.list, 1)
        self.problems_label = secondary(QLabel(""))
        self.problems_label.setWordWrap(True)
        self.problems_label.hide()
        column.addWidget(self.problems_label)
        # Titles elide (their tooltip has them whole): the page gets the width.
        left.setMinimumWidth(180)
        left.setMaximumWidth(360)
        self.stack = QStackedWidget()
        self.placeholder = secondary(QLabel("Loading the lessons…"))
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.placeholder)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.stack)
        splitter.setChildrenCollapsible(False)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([250, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

    # ----- reading ---------------------------------------------------------------------------

    @property
    def lessons(self) -> list[Lesson]:
        """The lessons listed, in order (loaded on first use)."""
        self.load()
        return list(self._lessons.values())

    @property
    def current_page(self) -> LessonPage | None:
        scroll = self.stack.currentWidget()
        return next((page for name, page in self._pages.items() if self._scrolls[name] is scroll), None)

    def page(self, name: str) -> LessonPage:
        """The page of lesson ``name`` (made on first use)."""
        if name not in self._pages:
            page = LessonPage(self._lessons[name])
            page.link_clicked.connect(self._on_link)
            if page.run_box is not None:
                page.run_box.run_clicked.connect(functools.partial(self.run, name))
                page.run_box.stop_clicked.connect(self.stop_run)
                self._show_run_state(name)
            scroll = QScrollArea()
            scroll.setObjectName(f"lesson-scroll-{name}")
            scroll.setWidget(page)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.stack.addWidget(scroll)
            self._pages[name], self._scrolls[name] = page, scroll
        return self._pages[name]

    @property
    def running(self) -> str | None:
        """The name of the lesson being trained again now, or None."""
        return self._run.lesson.name if self._run is not None else None

    # ----- choosing ----------------------------------------------------------------------------

    def load(self) -> None:
        """List the lessons and open the first (done on first show)."""
        if self._loaded:
            return
        self._loaded = True
        if self._source is None:
            lessons, problems = load_lessons()
        else:
            lessons, problems = list(self._source()), []
        self._lessons = {lesson.name: lesson for lesson in lessons}
        self.list.set_lessons(lessons)
        if problems:
            self.problems_label.setText(f"{len(problems)} lesson(s) could not be loaded (hover for why).")
            self.problems_label.setToolTip("\n".join(problems))
            self.problems_label.show()
            self.session.notify(f"lessons: {problems[0]}")
        if not lessons:
            self.placeholder.setText("No lessons could be loaded.")
            return
        self.list.setCurrentRow(0)

    def show_lesson(self, name: str) -> LessonPage:
        """Open the page of lesson ``name`` (as choosing it in the list does)."""
        self.load()
        self.list.select(name)
        return self.page(name)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.load()

    def _on_lesson_chosen(self, name: str) -> None:
        page = self.page(name)
        self.stack.setCurrentWidget(self._scrolls[name])
        if page.outcome_view.outcome is None and not self._render(name):
            page.outcome_view.set_message("measuring…")
            if name not in self._requests.values():  # asked already: its answer is coming
                self._measure(name)

    def _render(self, name: str) -> bool:
        """Draw what is known of ``name`` on its page (if it has one); False when nothing is."""
        page = self._pages.get(name)
        if name in self._reruns:
            outcome, seconds = self._reruns[name]
            shipped = self._outcomes.get(name, (None, ""))[0] is not None
            note = (f"Your run ({duration(seconds)}{', quick' if self._quick else ''}), solid, beside the shipped "
                    "result, dashed." if shipped else f"Your run ({duration(seconds)}): there is no shipped result "
                    "to compare it with.")
        elif name in self._outcomes:
            outcome, note = self._outcomes[name]
        elif name in self._problems:
            outcome, note = None, self._problems[name]
        else:
            return False
        if page is not None:
            if outcome is None:
                page.outcome_view.set_message(note)
            else:
                page.outcome_view.set_outcome(outcome, note)
            self.outcome_shown.emit(name)
        return True

    # ----- measuring ---------------------------------------------------------------------------

    def _measure(self, name: str) -> None:
        if self._closed:
            return
        self._requests = {self._job.submit(measure, self._lessons[name]): name}

    def _measure_next(self) -> None:
        """Measure the next lesson not yet known, while nothing else is asked for."""
        if self._job.busy:
            return
        for name in self._lessons:
            if name not in self._outcomes and name not in self._problems:
                self._measure(name)
                return

    def _on_measured(self, number: int, value: tuple[Outcome | None, str]) -> None:
        name = self._requests.pop(number, None)
        if name is None:
            return
        self._outcomes[name] = value
        self._render(name)
        self._measure_next()

    def _on_measure_failed(self, number: int, text: str) -> None:
        name = self._requests.pop(number, None)
        if name is None:
            return
        self._problems[name] = f"Could not measure this lesson: {text}"
        self._render(name)
        if self._scrolls.get(name) is self.stack.currentWidget():
            self.session.notify(f"{self._lessons[name].title}: {text}")
        self._measure_next()

    # ----- links -------------------------------------------------------------------------------

    def _on_link(self, link: Link) -> None:
        self.session.set_model(link.model)
        if link.node:
            self.session.set_node(link.node)
        self.view_requested.emit(link.view)

    # ----- running an experiment again -------------------------------------------------------

    def run(self, name: str, _checked: bool = False) -> None:
        """Train lesson ``name``'s experiment again (one run at a time)."""
        lesson = self._lessons.get(name)
        if lesson is None or lesson.experiment is None or self._run is not None or self._closed:
            return
        run = ExperimentRun(lesson, run_again, quick=self._quick, parent=self)
        run.progressed.connect(self._on_run_progress)
        run.succeeded.connect(self._on_run_succeeded)
        run.stopped.connect(self._on_run_stopped)
        run.failed.connect(self._on_run_failed)
        run.finished.connect(self._on_run_finished)
        self._run = run
        for other in self._pages:
            self._show_run_state(other)
        self.page(name).run_box.show_running()
        run.start()

    def stop_run(self) -> None:
        """Stop the rerun at its next step; the shipped result stays shown."""
        if self._run is None or self._run.stopping:
            return
        self._run.stop()
        self._pages[self._run.lesson.name].run_box.show_stopping()

    def _show_run_state(self, name: str) -> None:
        box = self._pages[name].run_box if name in self._pages else None
        if box is None or (self._run is not None and self._run.lesson.name == name):
            return
        box.show_idle(box.status.text(), busy_elsewhere=self._run.lesson.title if self._run is not None else "")

    def _run_box(self):
        return self._pages[self._run.lesson.name].run_box if self._run is not None else None

    def _on_run_progress(self, fraction: float, text: str) -> None:
        box = self._run_box()
        if box is not None and not self._run.stopping:
            box.show_progress(fraction, text)

    def _on_run_succeeded(self, outcome: Outcome, seconds: float) -> None:
        name = self._run.lesson.name
        self._reruns[name] = (outcome, seconds)
        self._render(name)
        shipped = self._outcomes.get(name, (None, ""))[0] is not None
        self._run_box().show_idle(f"Done in {duration(seconds)}: your run is drawn below"
                                  + (", beside the shipped result." if shipped else "."))
        self.run_ended.emit(name, "done")

    def _on_run_stopped(self) -> None:
        name = self._run.lesson.name
        self._run_box().show_idle("Stopped: nothing of the run is kept; the shipped result stays shown.")
        self.run_ended.emit(name, "stopped")

    def _on_run_failed(self, text: str) -> None:
        name = self._run.lesson.name
        self._run_box().show_idle(f"Could not run: {text}")
        self.session.notify(f"{self._run.lesson.title}: {text}")
        self.run_ended.emit(name, "failed")

    def _on_run_finished(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.deleteLater()
        for name in self._pages:
            self._show_run_state(name)

    # ----- closing -----------------------------------------------------------------------------

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Stop the rerun and the measuring job and wait for both; False if one did not end."""
        self._closed = True
        ended = True
        if self._run is not None:
            ended = self._run.stop_and_wait(timeout_ms)
        return self._job.stop(timeout_ms) and ended

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)
