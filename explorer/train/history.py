"""Run history: hyperparameters, curves and final metrics of every run, as JSON files.

One file per run under ``settings.user_data_dir()/runs``, rewritten atomically after each
epoch (``explorer.files.write_json``), so a run that was killed still shows up with the
epochs it finished. Every record is checked against its schema on read
(``RunRecord.from_dict``, in ``records.py`` with the curves and figures it holds): a
damaged one (not JSON, a wrong type, ragged curves, nested too deep, a FIFO in its place)
is skipped with a one-line warning naming the file, rather than hiding every other run.

Two writers may update one record at once (the trainer after each epoch, a rename from
the CLI or the window). Each update takes the record's own short-lived lock
(``.RUN.json.lock``, an ``flock``) and merges: it reads the record, changes its own
fields and writes the whole file back. Listing never takes a lock and never blocks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from explorer import settings
from explorer.errors import UserError, describe_os_error
from explorer.files import WriteError, clean_stale_temporaries, read_json, write_failure, write_json

# The record's schema lives in records.py; these names are read from here too.
from explorer.train.records import FINAL_METRICS, STATUSES, RecordError, RunRecord, printable

__all__ = ["FINAL_METRICS", "LOCK_TIMEOUT_S", "NAME_LIMIT", "STATUSES", "RecordError", "RunHistory", "RunRecord",
           "check_name", "runs_dir"]

NAME_LIMIT = 100  # characters in a run's name
LOCK_TIMEOUT_S = 10.0  # the longest an update waits for another one to finish


def check_name(name: Any) -> str:
    """``name`` stripped, if it may be a run's name.

    Raises:
        UserError: it is not text, holds a control character (a newline, an ANSI escape)
            or is longer than ``NAME_LIMIT``.
    """
    if not isinstance(name, str):
        raise UserError("a run's name must be text")
    name = name.strip()
    bad = next((c for c in name if not printable(c)), None)
    if bad is not None:
        raise UserError(f"a run's name cannot hold control characters (found {bad!a}); use plain text")
    if len(name) > NAME_LIMIT:
        raise UserError(f"a run's name can be at most {NAME_LIMIT} characters (this one has {len(name)})")
    return name


def runs_dir() -> Path:
    return settings.runs_dir()


class RunHistory:
    """Reads and writes RunRecords in a folder (default: the platform data folder)."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder) if folder else runs_dir()
        self.skipped: list[str] = []  # one line per damaged record the last listing skipped

    def path_of(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.json"

    def lock_path_of(self, run_id: str) -> Path:
        return self.folder / f".{run_id}.json.lock"

    @contextlib.contextmanager
    def locked(self, run_id: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """Hold ``run_id``'s update lock (an ``flock`` on ``.RUN.json.lock``, which any
        thread or process takes for one read-change-write and removes after; the system
        drops it if its holder dies).

        Raises:
            WriteError: the folder cannot be written, the lock file is not a regular file,
                or another update held it for ``timeout_s``.
        """
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; updates are not serialised there
            yield
            return
        path = self.lock_path_of(run_id)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                # O_NONBLOCK: a FIFO in the lock's place must not hang the update.
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o644)
            except OSError as exc:
                raise WriteError(write_failure("lock run record", path, exc), exc.errno) from None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise WriteError(f"cannot lock run record {run_id}: {path} is not a regular file; remove it")
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise WriteError(f"cannot update run record {run_id}: another update has held "
                                             f"{path} for {timeout_s:g} s") from None
                        time.sleep(0.005)
                # Each holder removes the lock file before letting go (no litter): a lock
                # taken meanwhile on the removed file is dropped and taken on the new one.
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(path))
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                break
            os.close(fd)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()  # while still held, so no one locks the removed file after
            os.close(fd)  # drops the lock

    def save(self, record: RunRecord) -> Path:
        """Write ``record`` whole, as it is, under its lock (atomically: on failure the
        previous file is intact).

        Raises:
            WriteError: it cannot be written (the reason in one line).
        """
        with self.locked(record.run_id):
            return self._write(record)

    def _write(self, record: RunRecord) -> Path:
        path = self.path_of(record.run_id)
        clean_stale_temporaries(path)
        return write_json(path, record.to_dict(), action="write run record")

    def update(self, run_id: str, change: Callable[[RunRecord | None], RunRecord]) -> RunRecord:
        """Read ``run_id``'s record, change it and write it back, holding its lock, so that
        two writers (the trainer, a rename) never undo each other's fields.

        Args:
            run_id: the run.
            change: gets the record on disk (None when there is none or it is damaged) and
                returns the record to write (its ``run_id`` must be ``run_id``).

        Raises:
            WriteError: the lock cannot be had or the record cannot be written; whatever
                ``change`` raises.
        """
        with self.locked(run_id):
            try:
                current: RunRecord | None = self.load(run_id)
            except (OSError, ValueError):
                current = None
            record = change(current)
            if record.run_id != run_id:
                raise ValueError(f"an update of run {run_id} cannot write run {record.run_id}")
            self._write(record)
            return record

    def load(self, run_id: str) -> RunRecord:
        """The run's record, checked.

        Raises:
            OSError: it cannot be read (FileNotFoundError when there is none).
            ValueError: it is not a regular file, not JSON, or not a valid record.
        """
        return self._read(self.path_of(run_id))

    def _read(self, path: Path) -> RunRecord:
        record = RunRecord.from_dict(read_json(path))
        # Only this app's records: each is named after its run.
        if record.run_id != path.stem:
            raise RecordError(f"holds run {record.run_id!r}, not {path.stem!r}")
        return record

    def list_runs(self) -> list[RunRecord]:
        """All valid runs, oldest first. Each file that is not one is skipped with a
        one-line warning naming it (also kept in ``skipped``). Takes no lock: records are
        replaced whole, so a read sees the old record or the new one."""
        self.skipped = []
        if not self.folder.is_dir():
            return []
        records = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                records.append(self._read(path))
            except (OSError, ValueError) as exc:
                reason = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
                line = f"skipping unreadable run record {path}: {' '.join(reason.split())}"
                self.skipped.append(line)
                warnings.warn(line, stacklevel=2)
        return records

    def rename(self, run_id: str, name: str) -> RunRecord:
        """Give a run a name (empty: clear it), keeping every other field as it is on disk
        (a run that finishes meanwhile stays finished; the trainer keeps the name).

        Raises:
            UserError: the name holds control characters or is too long; the run has no
                readable record; it cannot be written.
        """
        name = check_name(name)

        def change(record: RunRecord | None) -> RunRecord:
            if record is None:
                raise UserError(f"run {run_id} has no readable record in {self.folder}")
            return dataclasses.replace(record, name=name)

        return self.update(run_id, change)

    def delete(self, run_id: str) -> None:
        with self.locked(run_id):
            self.path_of(run_id).unlink(missing_ok=True)
