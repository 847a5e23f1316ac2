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
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QItemSelection, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtCore import QSortFilterProxyModel
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QPushButton, QTableView
from PySide6.QtWidgets import QVBoxLayout, QWidget

from explorer.errors import UserError
from explorer.session import Session
from explorer.train import RunHistory, RunRecord
from explorer.train.runs import export_curves_csv, run_status
from explorer.train.snapshots import SnapshotStore, snapshot_folder
from explorer.ui.file_export import image_bytes, save_export
from explorer.ui.training.runs import RUN_STATES, TOOLTIP_KEYS, weights_of

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
# (header, key): key names what ``_cell`` shows.
COLUMNS = (
    ("Name", "name"), ("Model", "model"), ("Status", "status"), ("Epochs", "epochs"), ("Test acc", "test_acc"),
    ("Train acc", "train_acc"), ("Best test", "best_test_acc"), ("Snapshots MB", "snapshot_mb"),
    ("Optimizer", "optimizer"), ("LR", "lr"), ("Batch", "batch_size"), ("Schedule", "schedule"),
    ("Started", "started"),
)
NAME = 0
STATUS = 2
# How each status reads: a finished run plain, a stopped one italic and amber, a killed one grey.
STATUS_COLORS = {"finished": "#2e7d32", "stopped": "#b35900", "interrupted": "#7f7f7f", "failed": "#c62828",
                 "running": "#1565c0", "paused": "#1565c0"}


class RunsModel(QAbstractTableModel):
    """Run records as rows; the Name column is editable and renames the run on disk."""

    def __init__(self, history: RunHistory, session: Session, parent: Any = None) -> None:
        super().__init__(parent)
        self._history = history
        self._session = session
        self.records: list[RunRecord] = []
        self._sizes: dict[str, float] = {}
        self._skipped: list[str] = []

    def reload(self) -> None:
        self.beginResetModel()
        self.records = [r for r in reversed(self._history.list_runs()) if r.curves.get("epoch")]
        skipped = getattr(self._history, "skipped", [])
        if skipped and skipped != self._skipped:  # each damaged record said once, in one line
            more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            self._session.notify(skipped[0] + more)
        self._skipped = list(skipped)
        self._sizes = {r.run_id: SnapshotStore(snapshot_folder(r.checkpoint)).disk_bytes() / 2**20
                       if r.checkpoint else 0.0 for r in self.records}
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsEditable if index.column() == NAME else flags

    def status(self, record: RunRecord) -> str:
        """How the run ended, or its live state when it is the run being trained."""
        run = self._session.training
        if run.active and run.run_id == record.run_id:
            return run.state
        status = run_status(record)
        # "running" here is a run another process trains (its checkpoint is locked).
        return status if status in ("running", "interrupted") else RUN_STATES.get(status, status)

    def _cell(self, record: RunRecord, key: str) -> Any:
        final, cfg = record.final, record.config
        if key == "name":
            return record.name
        if key == "model":
            return record.model
        if key == "status":
            return self.status(record)
        if key == "epochs":
            return len(record.curves.get("epoch") or [])
        if key in ("train_acc", "test_acc", "best_test_acc"):
            value = final.get(key)
            if value is None and key != "best_test_acc":
                values = record.curves.get(key) or []
                value = values[-1] if values else None
            return value
        if key == "snapshot_mb":
            return self._sizes.get(record.run_id, 0.0)
        if key == "started":
            return record.started[:16].replace("T", " ")
        return cfg.get(key)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        record = self.records[index.row()]
        key = COLUMNS[index.column()][1]
        value = self._cell(record, key)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if key == "name" and role == Qt.ItemDataRole.DisplayRole and not value:
                return record.run_id
            if isinstance(value, float):
                return f"{value:.1f}" if key == "snapshot_mb" else f"{value:.3f}" if key.endswith("acc") else f"{value:g}"
            return "" if value is None else str(value)
        if role == SORT_ROLE:
            if key == "name":
                return (record.name or record.run_id).lower()
            return value if isinstance(value, (int, float)) else -1.0 if key.endswith("acc") else str(value or "")
        if role == Qt.ItemDataRole.UserRole:
            return record.run_id
        if index.column() == NAME and role == Qt.ItemDataRole.ForegroundRole and not record.name:
            return QColor("#7f7f7f")  # the run id stands in until the run is named
        if index.column() == STATUS and role == Qt.ItemDataRole.ForegroundRole:
            return QColor(STATUS_COLORS.get(str(value), "#000000"))
        if index.column() == STATUS and role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setItalic(value in ("stopped", "interrupted"))
            font.setBold(value in ("running", "paused"))
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            if key == "status" and record.message:
                return record.message
            if key == "snapshot_mb":
                return "disk taken by the time machine's per-epoch snapshots"
            options = "\n".join(f"{k}: {record.config.get(k)}" for k in TOOLTIP_KEYS)
            return f"run {record.run_id}\n{options}\ncheckpoint: {record.checkpoint or 'none'}"
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any,  # noqa: N802
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != NAME:
            return False
        record = self.records[index.row()]
        try:
            self.records[index.row()] = self._history.rename(record.run_id, str(value))
        except (OSError, ValueError, UserError) as exc:  # a control character, a long name, a lock
            self._session.notify(f"cannot rename run {record.run_id}: {exc}")
            return False
        self.dataChanged.emit(index, index)
        self._session.notify(f"run {record.run_id} renamed to {str(value).strip() or '(no name)'}")
        return True


class RunsTable(QWidget):
    """The sortable table of runs with Open, Export CSV and Save plots.

    Args:
        session: the explorer's session (the live run's state, notices, "Open").
        history: where the run records are.
        plots: the widget "Save plots as PNG" grabs (the curves).

    Signals:
        overlay_toggled(str, bool): a run was selected (overlay it) or deselected.
        current_changed(object): the current run's record (None: none).
    """

    overlay_toggled = Signal(str, bool)
    current_changed = Signal(object)

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

    def current_run(self) -> RunRecord | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid():
            return None
        return self.model.records[self.proxy.mapToSource(index).row()]

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        now = {self.proxy.index(row, 0).data(Qt.ItemDataRole.UserRole) for row in rows}
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
        self.open_button.setEnabled(record is not None and weights_of(record) is not None)
        self.csv_button.setEnabled(record is not None)

    # ----- actions -----------------------------------------------------------------------

    def open_current(self) -> None:
        """Show the current run's model in the explorer with that run's weights."""
        record = self.current_run()
        if record is None:
            return
        weights = weights_of(record)
        if weights is None or not Path(weights.path).is_file():
            self._session.notify(f"run {record.run_id} has no checkpoint to open")
            return
        self._session.set_model(record.model, weights)
        self._session.notify(f"{record.model}: weights of {weights.label()}")

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
        self._session.notify(f"wrote {len(record.curves['epoch'])} epochs of {record.name or record.run_id} to {written}")
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
