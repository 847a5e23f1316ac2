"""The Knockout tab: parts switched off, and what it costs.

A view of the session's knockout list (``session.knockouts``; the mosaic's and the graph's
context menus add to it through ``session.set_knockouts``). For the list it shows the
shown image's top-5 and the accuracy on a held-out batch of the test split, before and
after, measured by :func:`explorer.explain.knockout_report.knockout_report` on a copy of
the model in a :class:`~explorer.ui.background.LatestJob`: the weights, in memory or saved,
are never changed. Undo drops the latest knockout.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.explain.knockout_report import KnockoutReport, knockout_report
from explorer.session import Session
from explorer.ui.background import LatestJob
from explorer.ui.subscriptions import Subscriptions

HINT = "Right-click a channel in the mosaic, or type a part below, to switch it off"


class KnockoutView(QWidget):
    """The knockout list with undo, top-5 and accuracy before and after.

    Attributes:
        report: the latest measurement (None while none matches the list).
    """

    def __init__(self, session: Session, data_root: str | Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.data_root = data_root
        self.report: KnockoutReport | None = None
        self._measured: tuple[str, ...] = ()  # the last list that measured without error
        self._dirty = True
        self._error = ""  # why the latest knockout was dropped, shown with the next measure
        self._job = LatestJob("knockout", self)
        self._job.done.connect(self._on_done)
        self._job.failed.connect(self._on_failed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.list_widget = QListWidget()
        # At least three lines, and the room the tab has left: a sideways scroll bar for a
        # long description took a line and hid the rest of it; wrap instead, and keep the
        # latest knockout in view.
        self.list_widget.setMinimumHeight(self.list_widget.fontMetrics().height() * 3 + 10)
        self.list_widget.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list_widget.setWordWrap(True)
        self.list_widget.setResizeMode(QListWidget.ResizeMode.Adjust)
        layout.addWidget(self.list_widget, 1)
        row = QHBoxLayout()
        self.spec_edit = QLineEdit()
        self.spec_edit.setPlaceholderText("layer1.0.conv1:12 · inception3a.branch2 · layer2.0:shortcut · aux1")
        self.spec_edit.returnPressed.connect(self._on_add)
        row.addWidget(self.spec_edit, 1)
        self.add_button = QPushButton("Switch off")
        self.add_button.clicked.connect(self._on_add)
        row.addWidget(self.add_button)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Switch the latest part back on")
        self.undo_button.clicked.connect(self.undo)
        row.addWidget(self.undo_button)
        layout.addLayout(row)
        self.accuracy_label = QLabel(HINT)
        self.accuracy_label.setWordWrap(True)
        self.accuracy_label.setMinimumHeight(self.accuracy_label.fontMetrics().lineSpacing() * 2 + 2)
        layout.addWidget(self.accuracy_label)
        table = QTableWidget(5, 2)
        self.top5_table = table
        table.setHorizontalHeaderLabels(["top-5 before", "after"])
        table.verticalHeader().setVisible(False)
        for column in (0, 1):
            table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 4)
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setFixedHeight(table.verticalHeader().defaultSectionSize() * 5
                             + table.horizontalHeader().sizeHint().height() + 4)
        layout.addWidget(table)
        self._subscriptions = Subscriptions(self)
        for event in (session.knockouts_changed, session.model_changed, session.image_changed):
            self._subscriptions.connect(event, self._on_changed)
        self._show_list()

    @property
    def busy(self) -> bool:
        return self._job.busy

    def add(self, spec: str) -> None:
        """Switch ``spec`` off too (through the session; a bad spec is reported and dropped)."""
        spec = spec.strip()
        if spec and spec not in self.session.knockouts:
            self.session.set_knockouts((*self.session.knockouts, spec))

    def undo(self) -> None:
        """Switch the latest knockout back on."""
        self.session.set_knockouts(self.session.knockouts[:-1])

    def refresh(self) -> None:
        """Measure the session's list now if visible, else when shown."""
        self._dirty = True
        session = self.session
        self.report = None
        if not self.isVisible() or session.module is None or session.image is None:
            return
        self._dirty = False
        self.accuracy_label.setText("measuring…")
        trained = session.weights is not None and session.weights.trained
        self._job.submit(knockout_report, session.module, session.model_name, session.image,
                         session.knockouts, trained, str(self.data_root) if self.data_root else None)

    def stop(self, timeout_ms: int = 10_000) -> bool:
        self._subscriptions.clear()
        return self._job.stop(timeout_ms)

    def _on_add(self) -> None:
        self.add(self.spec_edit.text())
        self.spec_edit.clear()

    def _on_changed(self, _session: Session, *_change) -> None:
        self._show_list()
        self._job.cancel()
        self.refresh()

    def _show_list(self) -> None:
        self.list_widget.clear()
        report = self.report
        described = {k.spec: k.description for k in report.knockouts} if report else {}
        for spec in self.session.knockouts:
            self.list_widget.addItem(described.get(spec, spec))
            self.list_widget.item(self.list_widget.count() - 1).setToolTip(spec)
        self.list_widget.scrollToBottom()
        self.undo_button.setEnabled(bool(self.session.knockouts))

    def _on_done(self, _number: int, report: KnockoutReport) -> None:
        self.report = report
        self._measured = tuple(k.spec for k in report.knockouts)
        self._show_list()
        for row in range(5):
            for column, top in enumerate((report.top_before, report.top_after)):
                p = top.top[row] if row < len(top.top) else None
                text = f"{p.name}  {p.probability * 100:.1f}%" if p is not None else ""
                self.top5_table.setItem(row, column, QTableWidgetItem(text))
        notes = [k.note for k in report.knockouts if k.note]
        if report.accuracy_before is None:
            text = f"no accuracy: {report.data_note}"
        else:
            change = (report.accuracy_after - report.accuracy_before) * 100
            text = (f"accuracy on {report.images} test images: {report.accuracy_before * 100:.1f}% → "
                    f"{report.accuracy_after * 100:.1f}% ({change:+.1f} points)")
        if not report.knockouts:
            text += "  ·  nothing switched off"
        error, self._error = self._error, ""
        self.accuracy_label.setText("  ·  ".join([*([error] if error else []), text, *notes]))

    def _on_failed(self, _number: int, text: str) -> None:
        self.accuracy_label.setText(text)
        if self.session.knockouts != self._measured:
            # Drop what could not be switched off; the list the lab measured stays.
            self._error = text
            self.session.set_knockouts(self._measured)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._dirty:
            self.refresh()
