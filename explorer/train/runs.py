"""The table of runs: hyperparameters, final metrics and a status a user can trust.

A run record says ``running`` until its run closes it; a run that was killed never does.
Its checkpoint lock tells them apart: the system drops a dead process's lock, so a
``running`` record whose checkpoint nobody holds is shown as ``interrupted``. ``stopped``
(the user stopped it) and ``completed`` (all its epochs) stay as recorded.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from explorer.errors import UserError
from explorer.train.history import RunHistory, RunRecord

# Hyperparameters shown in the table (the full config is in the JSON).
TABLE_OPTIONS = ("optimizer", "lr", "batch_size", "schedule", "weight_decay", "augment", "epochs")
# Per-epoch curves written to CSV, in this column order.
CSV_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "images_per_s")


def checkpoint_held(checkpoint: str | os.PathLike) -> bool:
    """Whether a live run holds the lock of ``checkpoint`` (read only: the lock is not taken)."""
    path = Path(checkpoint)
    lock_path = path.parent / f".{path.name}.lock"
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; trust the record
        return True
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return False  # a run removes its lock file when it ends
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def run_status(record: RunRecord) -> str:
    """``running``, ``completed``, ``stopped``, ``failed`` or ``interrupted`` (killed)."""
    if record.status == "running" and record.checkpoint and not checkpoint_held(record.checkpoint):
        return "interrupted"
    return record.status


def run_row(record: RunRecord) -> dict[str, Any]:
    """One run as plain data: who, status, hyperparameters, final metrics, files."""
    from explorer.train.snapshots import SnapshotStore, snapshot_folder

    final = record.final
    snapshots: list[int] = []
    if record.checkpoint:
        snapshots = SnapshotStore(snapshot_folder(record.checkpoint)).weight_epochs()
    return {
        "run_id": record.run_id,
        "name": record.name,
        "model": record.model,
        "status": run_status(record),
        "message": record.message,
        "started": record.started,
        "finished": record.finished,
        "epochs_done": final.get("epochs", 0),
        "options": {k: record.config.get(k) for k in TABLE_OPTIONS},
        "config": record.config,
        "final": {k: final.get(k) for k in ("train_acc", "val_acc", "test_acc", "best_test_acc", "images_per_s")},
        "checkpoint": record.checkpoint,
        "snapshot_epochs": snapshots,
    }


def find_run(history: RunHistory, key: str) -> RunRecord:
    """The run whose id, name or unique id prefix is ``key``.

    Raises:
        UserError: no run, or more than one, matches.
    """
    records = history.list_runs()
    for match in (
        [r for r in records if r.run_id == key],
        [r for r in records if r.name and r.name == key],
        [r for r in records if r.run_id.startswith(key)],
    ):
        if len(match) == 1:
            return match[0]
        if len(match) > 1:
            ids = ", ".join(r.run_id for r in match[:5])
            raise UserError(f"{key!r} matches {len(match)} runs ({ids}); give more of the run id")
    raise UserError(f"no run {key!r} in {history.folder}; `cnn-explorer runs` lists them")


def export_curves_csv(record: RunRecord, path: str | os.PathLike) -> Path:
    """Write the run's per-epoch curves to ``path`` as CSV, one row per epoch.

    Raises:
        UserError: the run has no finished epoch, or the file cannot be written.
    """
    curves = record.curves
    rows = len(curves.get("epoch", []))
    if rows == 0:
        raise UserError(f"run {record.run_id} has no finished epoch to export")
    path = Path(path)
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for i in range(rows):
                writer.writerow(["" if (v := _at(curves, k, i)) is None else v for k in CSV_COLUMNS])
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _at(curves: dict[str, list], key: str, i: int) -> Any:
    values = curves.get(key) or []
    return values[i] if i < len(values) else None
