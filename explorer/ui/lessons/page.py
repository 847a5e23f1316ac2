"""One lesson's page: the claim and its sources, what was measured (an
:class:`~explorer.ui.lessons.outcome_view.OutcomeView`), what to look at, the links into the
other views and, for an experiment, its "Run it yourself" box.

The page only draws; the view (``LessonsView``) measures, runs and follows the links.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from explorer.lessons.base import Lesson, Link
from explorer.ui.lessons.outcome_view import OutcomeView, heading, paragraph
from explorer.ui.lessons.run_box import RunBox
from explorer.ui.theme import secondary

# What a link's button says it opens, by the view it brings to the front.
VIEW_NAMES = {"graph": "graph", "tracer": "receptive-field tracer", "timemachine": "time machine",
              "training": "Training tab", "maps": "feature maps"}


def link_text(link: Link) -> str:
    """``Open in graph: googlenet, inception3a`` (the lesson's own words in the tooltip)."""
    where = ", ".join(part for part in (link.model, link.node) if part)
    return f"Open in {VIEW_NAMES.get(link.view, link.view)}: {where}"


def sources_text(lesson: Lesson) -> str:
    sources = "; ".join(str(source) for source in lesson.sources)
    figure = f" · checks {lesson.paper_figure}" if lesson.paper_figure else ""
    return f"Sources: {sources}{figure}"


class LessonPage(QWidget):
    """The page of ``lesson``.

    Signals:
        link_clicked(object): the :class:`Link` whose button was pressed.
    """

    link_clicked = Signal(object)

    def __init__(self, lesson: Lesson, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lesson = lesson
        self.setObjectName(f"lesson-page-{lesson.name}")
        column = QVBoxLayout(self)
        column.setContentsMargins(14, 12, 14, 14)
        column.setSpacing(10)

        self.title = QLabel(f"{lesson.number}. {lesson.title}")
        self.title.setObjectName("lesson-title")
        font = self.title.font()
        font.setPixelSize(20)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        column.addWidget(self.title)
        self.claim = paragraph(lesson.claim)
        self.claim.setObjectName("lesson-claim")
        font = self.claim.font()
        font.setPixelSize(15)
        self.claim.setFont(font)
        column.addWidget(self.claim)
        self.sources = paragraph(sources_text(lesson), dim=True)
        self.sources.setObjectName("lesson-sources")
        column.addWidget(self.sources)

        self.run_box: RunBox | None = None
        if lesson.experiment is not None:
            self.run_box = RunBox(lesson.experiment)
            column.addWidget(self.run_box)

        self.outcome_view = OutcomeView()
        column.addWidget(self.outcome_view)

        column.addWidget(heading("What to look at"))
        self.look_at = paragraph(lesson.look_at)
        self.look_at.setObjectName("lesson-look-at")
        column.addWidget(self.look_at)

        self.link_buttons: list[QPushButton] = []
        if lesson.links:
            for link in lesson.links:
                button = QPushButton(link_text(link))
                button.setToolTip(link.label)
                # The button is the page's child: the partial dies with the page.
                button.clicked.connect(functools.partial(self._open_link, link))
                column.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
                caption = secondary(QLabel(link.label))
                caption.setWordWrap(True)
                caption.setContentsMargins(4, 0, 0, 4)
                column.addWidget(caption)
                self.link_buttons.append(button)
        column.addStretch(1)

    def _open_link(self, link: Link, _checked: bool = False) -> None:
        self.link_clicked.emit(link)
