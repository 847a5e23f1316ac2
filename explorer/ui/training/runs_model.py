"""The runs table's data: one row per run record, its cells, sort keys and status colours.

A Qt item model over ``RunHistory``'s records (the table widget, its buttons and exports are
``runs_table.py``). Names are edited through ``RunHistory.rename``, the core of
``cnn-explorer runs rename``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QFont

from explorer.errors import UserError
from explorer.session import Session, TrainingRun
from explorer.train import RunHistory, RunRecord
from explorer.train.records import BEST_TEST_ACC, TEST_ACC, TRAIN_ACC
from explorer.train.runs import run_status
from explorer.train.snapshots import SnapshotStore, snapshot_folder
from explorer.ui.training.runs import RUN_STATES, TOOLTIP_KEYS

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
# (header, key): key names what ``_cell`` shows.
COLUMNS = (
    ("Name", "name"), ("Model", "model"), ("Status", "status"), ("Epochs", "epochs"), ("Test acc", TEST_ACC),
    ("Train acc", TRAIN_ACC), ("Best test", BEST_TEST_ACC), ("Snapshots MB", "snapshot_mb"),
    ("Optimizer", "optimizer"), ("LR", "lr"), ("Batch", "batch_size"), ("Schedule", "schedule"),
    ("Started", "started"),
)
NAME = 0
STATUS = 2
# The run id a started run shows until its worker has recorded it.
STARTING = "starting…"
# The status of a run another process trains (another window, `cnn-explorer train`): this
# window's run is "running" or "paused", as its label and its close dialog say.
ELSEWHERE = "running elsewhere"
# How each status reads: a finished run plain, a stopped one italic and amber, a killed one grey.
STATUS_COLORS = {"finished": "#2e7d32", "stopped": "#b35900", "interrupted": "#7f7f7f", "failed": "#c62828",
                 "running": "#1565c0", "paused": "#1565c0", ELSEWHERE: "#1565c0"}


class RunsModel(QAbstractTableModel):
    """Run records as rows; the Name column is editable and renames the run on disk."""

    def __init__(self, history: RunHistory, session: Session, parent: Any = None) -> None:
        super().__init__(parent)
        self._history = history
        self._session = session
        self.records: list[RunRecord] = []
        self.pending: RunRecord | None = None  # the run being started, before its record is written
        self._sizes: dict[str, float] = {}
        self._skipped: list[str] = []

    def _pending_record(self, run: TrainingRun) -> RunRecord:
        config = run.config.to_dict() if hasattr(run.config, "to_dict") else dict(run.config or {})
        before = self.pending
        # Started when it was first listed (reloads keep that time).
        started = (before.started if before is not None and (before.model, before.config) == (run.model_name, config)
                   else datetime.now().isoformat(timespec="seconds"))
        return RunRecord(run_id=run.run_id or STARTING, model=run.model_name or "", config=config,
                         status="running", started=started)

    def reload(self) -> None:
        self.beginResetModel()
        run = self._session.training
        # Runs with a finished epoch, and this session's run from its start (epoch 0), as
        # long as the run label names it, however it ended.
        live = run.run_id
        self.records = [r for r in reversed(self._history.list_runs()) if r.curves.epochs or r.run_id == live]
        if run.active and not any(r.run_id == live for r in self.records):
            # Started, not recorded yet (its worker is still loading the data): listed at once.
            self.pending = self._pending_record(run)
            self.records.insert(0, self.pending)
        else:
            self.pending = None
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
        named = index.column() == NAME and self.records[index.row()] is not self.pending  # no record to rename yet
        return flags | Qt.ItemFlag.ItemIsEditable if named else flags

    def status(self, record: RunRecord) -> str:
        """How the run ended, or its live state when it is the run being trained."""
        run = self._session.training
        if run.active and (run.run_id == record.run_id or record is self.pending):
            return run.state
        status = run_status(record)
        if status == "running":  # its checkpoint is locked, by another process
            return ELSEWHERE
        return status if status == "interrupted" else RUN_STATES.get(status, status)

    def summary(self, record: RunRecord) -> str:
        """One line on ``record``: its name or model, status and test accuracy, as the table shows them."""
        row = self.records.index(record)
        cells = {key: self.data(self.index(row, column)) for column, (_title, key) in enumerate(COLUMNS)}
        epochs = f"{cells['epochs']} epoch{'' if cells['epochs'] == '1' else 's'}"
        parts = [f"{cells['name']} ({cells['model']})" if record.name else cells["model"], cells["status"], epochs]
        if cells[TEST_ACC]:
            parts.append(f"test accuracy {cells[TEST_ACC]}")
        return ", ".join(parts)

    def _cell(self, record: RunRecord, key: str) -> Any:
        final, cfg = record.final, record.config
        if key == "name":
            return record.name
        if key == "model":
            return record.model
        if key == "status":
            return self.status(record)
        if key == "epochs":
            return record.curves.epochs
        if key in (TRAIN_ACC, TEST_ACC, BEST_TEST_ACC):
            value = final[key]
            if value is None and key != BEST_TEST_ACC:
                value = record.curves.last(key)
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
