"""The list of past runs: tick one to overlay its test accuracy, open one in the explorer.

A run's checkpoint holds the weights of its last finished epoch, so no run's weights are
lost when a later run trains the same model: "Open in explorer" shows the selected run's
model with those weights (``WeightsChoice("run", ...)``), through the session.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from explorer.session import Session, TrainingRun, WeightsChoice
from explorer.train import EpochMetrics, RunHistory, RunRecord

# Record status -> the run state the weights choice names.
RUN_STATES = {"completed": "finished", "stopped": "stopped", "running": "paused", "failed": "failed"}
TOOLTIP_KEYS = ("model", "optimizer", "lr", "schedule", "batch_size", "epochs", "weight_decay", "augment",
                "dropout", "batch_norm", "label_smoothing")


def weights_of(record: RunRecord) -> WeightsChoice | None:
    """The weights a past run left (its last finished epoch), or None without a checkpoint."""
    epochs = record.curves.get("epoch") or []
    if not record.checkpoint or not epochs:
        return None
    accuracies = record.curves.get("test_acc") or []
    accuracy = accuracies[-1] if accuracies else record.final.get("test_acc")
    return WeightsChoice(
        "run",
        path=record.checkpoint,
        run_id=record.run_id,
        epoch=int(epochs[-1]),
        test_accuracy=float(accuracy) if isinstance(accuracy, (int, float)) else None,
    )


def show_epoch_in_explorer(session: Session, run: TrainingRun, m: EpochMetrics, *, follow: bool,
                           picked: str | None) -> bool:
    """Show the run's newest epoch in the explorer, but only where it shows this run.

    The explorer shows the run when its weights are this run's (``kind == "run"`` and the
    same run id), or, with ``follow`` (the run's first epoch, started from the model the
    explorer showed), when it still shows the run's model or ``picked``, the reference
    model whose small form the run trains. Any other weights in the view stay: a new run,
    stopped or not, never replaces them. Returns whether the explorer moved.
    """
    if m.checkpoint is None or run.run_id is None or run.model_name is None:
        return False
    weights = WeightsChoice("run", path=m.checkpoint, run_id=run.run_id, epoch=m.epoch, test_accuracy=m.test_acc)
    shown = session.weights
    showing_run = shown is not None and shown.kind == "run" and shown.run_id == run.run_id
    if session.model_name == run.model_name and (showing_run or follow):
        session.set_weights(weights)
    elif follow and session.model_name is not None and session.model_name == picked:
        session.set_model(run.model_name, weights)
    else:
        return False
    # The epoch's model is at hand (a CPU copy in eval mode): deliver it rather than
    # have the app read the checkpoint back.
    session.set_module(run.model_name, weights, m.model)
    return True


class RunList(QGroupBox):
    """Past runs, newest first, each with a tick box (overlay) and "Open in explorer".

    Signals:
        overlay_toggled(str, bool): a run's tick box changed (run id, ticked).
    """

    overlay_toggled = Signal(str, bool)

    def __init__(self, session: Session, history: RunHistory, parent: QWidget | None = None) -> None:
        super().__init__("Past runs (tick to overlay test accuracy)", parent)
        self._session = session
        self._history = history
        self._records: dict[str, RunRecord] = {}
        layout = QVBoxLayout(self)
        self._list = QListWidget(objectName="runs")
        self._list.setMinimumHeight(120)
        # Wrapped rather than cut off: the form's column is narrow.
        self._list.setWordWrap(True)
        self._list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._list.itemChanged.connect(self._on_item_changed)
        self._list.currentItemChanged.connect(self._on_current_changed)
        self._list.itemDoubleClicked.connect(self._on_double_clicked)
        layout.addWidget(self._list)
        buttons = QHBoxLayout()
        self._open = QPushButton("Open in explorer", objectName="open_run")
        self._open.setToolTip("show this run's model with the weights of its last finished epoch")
        self._open.setEnabled(False)
        self._open.clicked.connect(self.open_selected)
        buttons.addStretch(1)
        buttons.addWidget(self._open)
        layout.addLayout(buttons)

    @property
    def list_widget(self) -> QListWidget:
        return self._list

    def refresh(self, ticked: set[str] | None = None) -> None:
        """Reload the runs (newest first), keeping the ticks in ``ticked``."""
        ticked = ticked or set()
        current = self._list.currentItem()
        selected = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
        blocker = QSignalBlocker(self._list)
        self._list.clear()
        self._records = {}
        for record in reversed(self._history.list_runs()):
            if not record.curves.get("test_acc"):
                continue
            self._records[record.run_id] = record
            run = self._session.training
            live = run.active and run.run_id == record.run_id
            state = run.state if live else RUN_STATES.get(record.status, record.status)
            item = QListWidgetItem(f"{record.label} · {state}")
            item.setData(Qt.ItemDataRole.UserRole, record.run_id)
            cfg = record.config
            item.setToolTip("\n".join(f"{k}: {cfg.get(k)}" for k in TOOLTIP_KEYS)
                            + f"\ncheckpoint: {record.checkpoint or 'none'}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if record.run_id in ticked else Qt.CheckState.Unchecked)
            self._list.addItem(item)
            if record.run_id == selected:
                self._list.setCurrentItem(item)
        del blocker
        self._on_current_changed(self._list.currentItem(), None)

    def record(self, run_id: str) -> RunRecord | None:
        return self._records.get(run_id)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        self.overlay_toggled.emit(item.data(Qt.ItemDataRole.UserRole), item.checkState() == Qt.CheckState.Checked)

    def _on_current_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        record = self._records.get(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None
        self._open.setEnabled(record is not None and weights_of(record) is not None)

    def _on_double_clicked(self, _item: QListWidgetItem) -> None:
        self.open_selected()

    def open_selected(self) -> None:
        """Show the selected run's model in the explorer with that run's weights."""
        item = self._list.currentItem()
        record = self._records.get(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None
        if record is None:
            return
        weights = weights_of(record)
        if weights is None or not Path(weights.path).is_file():
            self._session.notify(f"run {record.run_id} has no checkpoint to open")
            return
        self._session.set_model(record.model, weights)
        self._session.notify(f"{record.model}: weights of {weights.label()}")
