"""An experiment's "Run it yourself": the expected time, a progress bar and Stop."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from explorer.lessons.base import Experiment
from explorer.ui.theme import secondary


def duration(seconds: float) -> str:
    """``45 s``, ``about 8 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"about {round(seconds / 60):.0f} min"


class RunBox(QFrame):
    """The controls of one experiment's rerun; the view drives them from the run's signals.

    Signals:
        run_clicked(): "Run it yourself".
        stop_clicked(): Stop.
    """

    run_clicked = Signal()
    stop_clicked = Signal()

    def __init__(self, experiment: Experiment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lesson-run-box")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # holds the focus while its buttons are off
        column = QVBoxLayout(self)
        column.setContentsMargins(10, 8, 10, 8)
        column.setSpacing(6)
        row = QHBoxLayout()
        self.run_button = QPushButton("Run it yourself")
        self.run_button.setToolTip("Train the experiment again here and draw it beside the shipped result")
        self.run_button.clicked.connect(self.run_clicked)
        row.addWidget(self.run_button)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End the run at its next step; the shipped result stays shown")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_clicked)
        row.addWidget(self.stop_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.progress.hide()
        row.addWidget(self.progress, 1)
        row.addStretch(0)
        column.addLayout(row)
        self.budget_label = secondary(QLabel(
            f"A full run trains for {duration(experiment.budget_s)} on two CPU cores, in the background: "
            "the other tabs keep working, and Stop ends it at any time."))
        self.budget_label.setWordWrap(True)
        column.addWidget(self.budget_label)
        self.command_label = secondary(QLabel(f"From the command line: <code>{html.escape(experiment.command)}</code>"))
        self.command_label.setToolTip("The command that makes the shipped result (it prints the same numbers)")
        self.command_label.setWordWrap(True)
        self.command_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self.command_label)
        self.status = QLabel("")
        self.status.setObjectName("lesson-run-status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.hide()
        column.addWidget(self.status)

    def _disable(self, button: QPushButton) -> None:
        """Disable ``button`` keeping the keyboard focus in this box: disabling the focused
        button hands the focus on to the page's next widget, and the page's scroll area
        then jumps to it (walked in a real window: Run and Stop scrolled the page away)."""
        if button.hasFocus():
            self.setFocus(Qt.FocusReason.OtherFocusReason)
        button.setEnabled(False)

    def show_running(self) -> None:
        self.stop_button.setEnabled(True)
        self._disable(self.run_button)
        self.progress.setValue(0)
        self.progress.show()
        self.set_status("starting…")

    def show_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(round(fraction * 1000)))
        self.set_status(text)

    def show_stopping(self) -> None:
        self._disable(self.stop_button)
        self.set_status("stopping at the next step…")

    def show_idle(self, status: str = "", *, busy_elsewhere: str = "") -> None:
        """Ready to run (or not, while ``busy_elsewhere`` names the lesson running now)."""
        self.run_button.setEnabled(not busy_elsewhere)
        self.run_button.setToolTip(f"One lesson trains at a time: {busy_elsewhere} is running"
                                   if busy_elsewhere else
                                   "Train the experiment again here and draw it beside the shipped result")
        self._disable(self.stop_button)
        self.progress.hide()
        self.set_status(status)

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
