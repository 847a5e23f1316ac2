"""Lessons (issue 18): the classic claims about CNN design, each shown on the zoo's real
models and measured, beside the paper's number (no Qt).

Each lesson lives in a module of its own that defines ``LESSON`` (:class:`~explorer.lessons.base.Lesson`);
this package lists them in order and answers for them:

    all_lessons()            the 14 lessons, in order
    get_lesson(name)         one by its slug (``small-kernels``) or number
    shipped_outcome(lesson)  a live lesson's outcome now; an experiment's shipped one (or None)
    run_lesson(lesson, ...)  a live lesson's outcome; an experiment trained again, beside the shipped one
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from explorer.errors import UserError
from explorer.lessons.base import Experiment, ExperimentStopped, Lesson, Outcome, Progress, read_shipped

# The lesson modules, in the order.
MODULES = (
    "small_kernels", "one_by_one", "global_pooling", "dropout", "augmentation", "residual",
    "batch_norm", "aux_classifiers", "dense_growth", "depthwise", "linear_bottleneck", "relu6",
    "multi_scale", "factorised",
)

__all__ = ["Experiment", "ExperimentStopped", "Lesson", "Outcome", "all_lessons", "get_lesson", "run_lesson",
           "shipped_outcome"]


def all_lessons() -> list[Lesson]:
    """Every lesson, in order (the modules are imported on first use)."""
    lessons = [importlib.import_module(f"explorer.lessons.{module}").LESSON for module in MODULES]
    return sorted(lessons, key=lambda lesson: lesson.number)


def get_lesson(name: str) -> Lesson:
    """The lesson named ``name`` (its slug, or its number as text).

    Raises:
        UserError: no such lesson (the message lists them).
    """
    lessons = all_lessons()
    for lesson in lessons:
        if name in (lesson.name, str(lesson.number)):
            return lesson
    raise UserError(f"unknown lesson {name!r}; lessons: {', '.join(lesson.name for lesson in lessons)}")


def shipped_outcome(lesson: Lesson) -> Outcome | None:
    """What the lesson shows when its page opens: a live lesson's outcome, computed now; an
    experiment's shipped result (None when it is missing or damaged)."""
    if lesson.experiment is None:
        return lesson.demonstrate()
    document = read_shipped(lesson.name)
    return None if document is None else lesson.experiment.outcome(document["result"])


def run_lesson(lesson: Lesson, progress: Progress | None = None, *, quick: bool = False,
               should_stop: Any = None) -> tuple[Outcome, dict[str, Any] | None, float]:
    """Run ``lesson`` again: (outcome, raw result or None for a live lesson, seconds).

    An experiment's outcome shows the rerun beside the shipped result when there is one.

    Raises:
        ExperimentStopped: ``should_stop`` returned True.
        UserError: the data or the model cannot be had (one line).
    """
    start = time.perf_counter()
    if lesson.experiment is None:
        return lesson.demonstrate(), None, time.perf_counter() - start
    result = lesson.experiment.run(progress=progress or (lambda _f, _t: None), quick=quick,
                                   should_stop=should_stop or (lambda: False))
    seconds = time.perf_counter() - start
    document = read_shipped(lesson.name)
    if document is None:
        return lesson.experiment.outcome(result), result, seconds
    return lesson.experiment.outcome(document["result"], rerun=result), result, seconds
