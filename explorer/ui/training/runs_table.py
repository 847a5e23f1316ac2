"""The table of runs, as TensorBoard users expect: editable names, hyperparameters and
final metrics in sortable columns, a status a user can trust (a stopped run looks unlike a
finished one), the disk its time-machine snapshots take, and exports.

Rows are this app's run records only (``RunHistory`` reads its own folder and skips files
that are not its records). Renaming writes through ``RunHistory.rename``, the core of
``cnn-explorer runs rename``; "Export CSV…" through ``export_curves_csv``, the core of
``cnn-explorer runs export``. Selecting rows overlays their test accuracy on the curves
(``overlay_toggled``); the current row is the run the time machine scrubs (``current_run``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import (
    QItemSelection,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from explorer.loading import run_weights
from explorer.session import Session
from explorer.train import RunHistory, RunRecord
from explorer.train.runs import export_curves_csv
from explorer.ui.file_export import image_bytes, save_export
from explorer.ui.training.runs_model import COLUMNS, NAME, SORT_ROLE, RunsModel


class RunsTable(QWidget):
    """The sortable table of runs with Open, Export CSV and Save plots.

    Args:
        session: the explorer's session (the live run's state, notices, "Open").
        history: where the run records are.
        plots: the widget "Save plots as PNG" grabs (the curves).

    Signals:
        overlay_toggled(str, bool): a run was selected (overlay it) or deselected.
        current_changed(object): the current run's record (None: none).
        opened(str): "Open in explorer" gave the session this run's model and weights.
    """

    overlay_toggled = Signal(str, bool)
    current_changed = Signal(object)
    opened = Signal(str)

    def __init__(self, session: Session, history: RunHistory, plots: QWidget | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._plots = plots
        self.model = RunsModel(history, session, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.table = QTableView(objectName="runs_table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(len(COLUMNS) - 1, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Run ids are long: the name column is sized by hand (its tooltip has the id).
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(NAME, self.fontMetrics().horizontalAdvance("20261130-154849-resnet18_small") + 12)
        header.setStretchLastSection(True)
        self.table.setToolTip("Select runs to overlay their test accuracy; double-click a name to rename it")
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open in explorer", objectName="open_run")
        self.open_button.setToolTip("show this run's model with the weights of its last finished epoch")
        self.open_button.clicked.connect(self.open_current)
        self.csv_button = QPushButton("Export CSV…", objectName="export_csv")
        self.csv_button.setToolTip("write the current run's per-epoch curves as CSV (as `cnn-explorer runs export`)")
        self.csv_button.clicked.connect(self._on_csv_clicked)
        self.png_button = QPushButton("Save plots as PNG…", objectName="export_png")
        self.png_button.clicked.connect(self._on_png_clicked)
        for button in (self.open_button, self.csv_button):
            button.setEnabled(False)
        buttons.addStretch(1)
        for button in (self.open_button, self.csv_button, self.png_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self._selected: set[str] = set()

    # ----- rows --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the records, keeping the current row and the selection."""
        current = self.current_run()
        keep = set(self._selected)
        blocker = self.table.selectionModel().blockSignals(True)
        self.model.reload()
        selection = QItemSelection()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(Qt.ItemDataRole.UserRole) in keep:
                selection.select(index, self.proxy.index(row, len(COLUMNS) - 1))
        self.table.selectionModel().select(selection, self.table.selectionModel().SelectionFlag.Select)
        if current is not None:
            row = self.row_of(current.run_id)
            if row is not None:
                self.table.selectionModel().setCurrentIndex(self.proxy.index(row, 0),
                                                            self.table.selectionModel().SelectionFlag.NoUpdate)
        self.table.selectionModel().blockSignals(blocker)
        self._selected = {r for r in keep if self.row_of(r) is not None}
        self._update_buttons()

    def row_of(self, run_id: str) -> int | None:
        """The table row (as sorted) showing ``run_id``."""
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(Qt.ItemDataRole.UserRole) == run_id:
                return row
        return None

    def run_ids(self) -> list[str]:
        """Run ids in the table's order."""
        return [self.proxy.index(row, 0).data(Qt.ItemDataRole.UserRole) for row in range(self.proxy.rowCount())]

    def past_runs(self) -> list[RunRecord]:
        """The runs listed, less this session's."""
        run_id = self._session.training.run_id
        return [r for r in self.model.records if r is not self.model.pending and (run_id is None or r.run_id != run_id)]

    def current_run(self) -> RunRecord | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid():
            return None
        return self.model.records[self.proxy.mapToSource(index).row()]

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        now = {self.proxy.index(row, 0).data(Qt.ItemDataRole.UserRole) for row in rows}
        if self.model.pending is not None:
            now.discard(self.model.pending.run_id)  # no curves to overlay yet
        for run_id in sorted(self._selected - now):
            self.overlay_toggled.emit(run_id, False)
        for run_id in sorted(now - self._selected):
            self.overlay_toggled.emit(run_id, True)
        self._selected = now

    @property
    def selected(self) -> set[str]:
        return set(self._selected)

    def _on_current(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()
        self.current_changed.emit(self.current_run())

    def _update_buttons(self) -> None:
        record = self.current_run()
        self.open_button.setEnabled(record is not None and run_weights(record) is not None)
        self.csv_button.setEnabled(record is not None and record.curves.epochs > 0)  # epochs to write

    # ----- actions -----------------------------------------------------------------------

    def open_current(self) -> None:
        """Show the current run's model in the explorer with that run's weights."""
        record = self.current_run()
        if record is None:
            return
        weights = run_weights(record)
        if weights is None or not Path(weights.path).is_file():
            self._session.notify(f"run {record.run_id} has no checkpoint to open")
            return
        self._session.set_model(record.model, weights)
        self._session.notify(f"{record.model}: weights of {weights.label()}")
        self.opened.emit(record.run_id)

    def export_csv(self, path: str, *, confirmed: bool = False) -> bool:
        """Write the current run's curves to ``path``; says so in the status bar (asks before
        replacing a file unless ``confirmed``: the save dialog asked)."""
        record = self.current_run()
        if record is None:
            return False
        written = save_export(self, path, lambda checked: export_curves_csv(record, checked),
                              report=self._session.notify, confirmed=confirmed)
        if written is None:
            return False
        self._session.notify(f"wrote {record.curves.epochs} epochs of {record.name or record.run_id} to {written}")
        return True

    def export_png(self, path: str, *, confirmed: bool = False) -> bool:
        """Save the plots as they are drawn now as a PNG image (rendered in memory, written
        whole; asks before replacing a file unless ``confirmed``)."""
        if self._plots is None:
            return False
        plots = self._plots
        written = save_export(self, path, lambda _checked: image_bytes(plots.grab()),
                              report=self._session.notify, confirmed=confirmed)
        if written is None:
            return False
        self._session.notify(f"saved the plots to {written}")
        return True

    def _on_csv_clicked(self) -> None:
        record = self.current_run()
        if record is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export curves as CSV", f"{record.name or record.run_id}.csv",
                                              "CSV files (*.csv)")
        if path:
            self.export_csv(path, confirmed=True)  # the dialog asked about this very name

    def _on_png_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save plots as PNG", "training-curves.png", "PNG images (*.png)")
        if path:
            # The dialog asked before replacing the name it returned, not one with ".png" added.
            named = path if path.lower().endswith(".png") else path + ".png"
            self.export_png(named, confirmed=named == path)
