"""Start, Resume…, Pause and Stop, the progress bar, the speed line and the notice line."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from explorer.train import BatchMetrics
from explorer.train.engine import format_duration


class RunControls(QWidget):
    """The buttons that drive a run and the lines that say how it goes.

    Signals:
        start_clicked, resume_clicked, pause_clicked, stop_clicked: a button was pressed
            (Pause reads "Resume" while paused and still emits ``pause_clicked``).
    """

    start_clicked = Signal()
    resume_clicked = Signal()
    pause_clicked = Signal()
    stop_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        self._start = QPushButton("Start", objectName="start")
        self._resume = QPushButton("Resume…", objectName="resume_checkpoint")
        self._resume.setToolTip("continue a run from one of its checkpoints")
        self._pause = QPushButton("Pause", objectName="pause")
        self._stop = QPushButton("Stop", objectName="stop")
        self._start.clicked.connect(self.start_clicked)
        self._resume.clicked.connect(self.resume_clicked)
        self._pause.clicked.connect(self.pause_clicked)
        self._stop.clicked.connect(self.stop_clicked)
        for button in (self._start, self._resume, self._pause, self._stop):
            buttons.addWidget(button)
        column.addLayout(buttons)
        self._progress = QProgressBar(objectName="progress")
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(True)
        column.addWidget(self._progress)
        self._speed = QLabel(" ", objectName="speed")
        column.addWidget(self._speed)
        # The whole message, in place (the status bar shows one line of it): wrapped, plain
        # text (an error may hold "<"), selectable to copy a path or a key out of it.
        self._notice = QLabel("", objectName="notice")
        self._notice.setWordWrap(True)
        self._notice.setTextFormat(Qt.TextFormat.PlainText)
        self._notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                             | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self._notice.setStyleSheet("color: #c0392b;")
        self._notice.hide()
        column.addWidget(self._notice)
        self.reset()

    def set_buttons(self, *, can_start: bool, running: bool, paused: bool) -> None:
        self._start.setEnabled(not running and can_start)
        self._resume.setEnabled(not running)
        self._pause.setEnabled(running)
        self._stop.setEnabled(running)
        self._pause.setText("Resume" if running and paused else "Pause")

    def reset(self, loading: bool = False) -> None:
        """Idle (or loading a run): empty progress, no speed, no notice."""
        self._progress.setValue(0)
        self._progress.setFormat("loading data…" if loading else "idle")
        self._speed.setText(" ")
        self.hide_notice()

    @property
    def progress_text(self) -> str:
        return self._progress.format()

    def set_progress_text(self, text: str) -> None:
        self._progress.setFormat(text)

    def set_paused(self, paused: bool) -> None:
        """Mark the progress text "(paused)" once the engine has really stopped stepping."""
        self._progress.setFormat(self._progress.format().split(" (")[0] + (" (paused)" if paused else ""))

    def show_batch(self, m: BatchMetrics, paused: bool) -> None:
        done = ((m.epoch - 1) * m.batches + m.batch) / (m.epochs * m.batches)
        self._progress.setValue(int(done * 1000))
        mark = " (paused)" if paused else ""
        self._progress.setFormat(f"epoch {m.epoch}/{m.epochs} · batch {m.batch}/{m.batches}{mark}")
        self._speed.setText(f"{m.images_per_s:,.0f} images/s · {format_duration(m.eta_s)} left")

    def end_run(self) -> None:
        """The run ended: keep its speed, drop the time left."""
        self._speed.setText(self._speed.text().split(" · ")[0])

    @property
    def notice(self) -> str:
        """The notice shown (an error or an overfitting warning), or "" when hidden."""
        return self._notice.text() if not self._notice.isHidden() else ""

    @property
    def notice_label(self) -> QLabel:
        """The label that shows the notice (to scroll it into view)."""
        return self._notice

    def show_notice(self, text: str) -> None:
        """Show ``text`` whole, however long (it wraps; nothing is cut)."""
        self._notice.setText(text)
        self._notice.show()

    def hide_notice(self) -> None:
        self._notice.hide()
