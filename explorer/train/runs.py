"""The table of runs: hyperparameters, final metrics and a status a user can trust.

A run record says ``running`` until its run closes it; a run that was killed never does.
Its checkpoint lock tells them apart: the system drops a dead process's lock, so a
``running`` record whose checkpoint nobody holds is shown as ``interrupted``. ``stopped``
(the user stopped it) and ``completed`` (all its epochs) stay as recorded.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any

from explorer.errors import UserError
from explorer.files import STALE_AFTER_S, process_alive
from explorer.train.history import RunHistory
from explorer.train.records import EPOCH_SERIES, FINAL_METRICS, RunRecord

# Hyperparameters shown in the table (the full config is in the JSON).
TABLE_OPTIONS = ("optimizer", "lr", "batch_size", "schedule", "weight_decay", "augment", "epochs")
# Final metrics in a row of the table (and of ``runs --json``).
ROW_METRICS = tuple(k for k in FINAL_METRICS if not k.endswith("_loss"))
# Per-epoch curves written to CSV, in this column order.
CSV_COLUMNS = EPOCH_SERIES


def checkpoint_held(checkpoint: str | os.PathLike) -> bool:
    """Whether a live run holds the lock of ``checkpoint`` (read only: the lock is not taken)."""
    path = Path(checkpoint)
    lock_path = path.parent / f".{path.name}.lock"
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; trust the record
        return True
    try:
        # O_NONBLOCK: a FIFO in the lock's place must not hang the table.
        fd = os.open(lock_path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False  # a run removes its lock file when it ends
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False  # no run can hold a FIFO or a device
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def clean_stale_lock(checkpoint: str | os.PathLike) -> bool:
    """Remove the lock file of ``checkpoint`` when the process that wrote it has ended (a
    killed run, a failed start), as stale temporaries are removed: never one a live run
    holds, never one a starting run has just created. Never blocks.

    Returns:
        Whether a lock file was removed.
    """
    path = Path(checkpoint)
    lock_path = path.parent / f".{path.name}.lock"
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return False  # not a lock file this app wrote: left for the user
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # unlocked by close()
        try:
            holder = json.loads(os.read(fd, 4096).decode("utf-8"))
            pid = int(holder["pid"]) if holder.get("host", socket.gethostname()) == socket.gethostname() else None
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            pid = None
        if pid is None:
            # Unreadable, or another machine's: stale only once old (a run that is starting
            # has created the file but not yet written itself into it).
            stale = time.time() - info.st_mtime >= STALE_AFTER_S
        else:
            stale = not process_alive(pid)
        if stale and os.path.samestat(info, os.stat(lock_path)):
            lock_path.unlink()  # while locked, so a starting run retries on a new file
            return True
        return False
    except OSError:  # held (BlockingIOError), or removed meanwhile
        return False
    finally:
        os.close(fd)


def run_status(record: RunRecord) -> str:
    """``running``, ``completed``, ``stopped``, ``failed`` or ``interrupted`` (killed).

    A lock file left by a run whose process has ended is removed on the way."""
    if record.status == "running" and record.checkpoint and not checkpoint_held(record.checkpoint):
        clean_stale_lock(record.checkpoint)  # its process was killed: its lock file is litter
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
        "epochs_done": final.epochs,
        "options": {k: record.config.get(k) for k in TABLE_OPTIONS},
        "config": record.config,
        "final": {k: final[k] for k in ROW_METRICS},
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
    if curves.epochs == 0:
        raise UserError(f"run {record.run_id} has no finished epoch to export")
    from explorer.exports import write_export

    # Built whole in memory, then written atomically: a full disk leaves the old file as it was.
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(CSV_COLUMNS)
    for i in range(curves.epochs):
        writer.writerow(["" if (v := curves[k][i]) is None else v for k in CSV_COLUMNS])
    return write_export(path, text.getvalue())
