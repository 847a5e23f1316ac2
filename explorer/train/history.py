"""Run history: hyperparameters, curves and final metrics of every run, as JSON files.

One file per run under ``settings.user_data_dir()/runs``, rewritten atomically after each
epoch (``explorer.files.write_json``), so a run that was killed still shows up with the
epochs it finished. Every record is checked against its schema on read
(``RunRecord.from_dict``): a damaged one (not JSON, a wrong type, nested too deep, a FIFO
in its place) is skipped with a one-line warning naming the file, rather than hiding
every other run.

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
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from explorer import settings
from explorer.errors import UserError, describe_os_error
from explorer.files import (
    WriteError,
    clean_stale_temporaries,
    read_json,
    write_failure,
    write_json,
)

STATUSES = ("running", "completed", "stopped", "failed")
# The final metrics a run records after each epoch (all numbers); ``final`` also holds
# ``epochs`` and facts such as ``device``.
FINAL_METRICS = ("train_acc", "val_acc", "test_acc", "best_test_acc", "train_loss", "test_loss", "images_per_s")
NAME_LIMIT = 100  # characters in a run's name
LOCK_TIMEOUT_S = 10.0  # the longest an update waits for another one to finish
_MAX_DEPTH = 4  # config and final values: scalars, or lists/tables of them


class RecordError(ValueError):
    """A run record does not match its schema."""


def check_name(name: Any) -> str:
    """``name`` stripped, if it may be a run's name.

    Raises:
        UserError: it is not text, holds a control character (a newline, an ANSI escape)
            or is longer than ``NAME_LIMIT``.
    """
    if not isinstance(name, str):
        raise UserError("a run's name must be text")
    name = name.strip()
    bad = next((c for c in name if not _printable(c)), None)
    if bad is not None:
        raise UserError(f"a run's name cannot hold control characters (found {bad!a}); use plain text")
    if len(name) > NAME_LIMIT:
        raise UserError(f"a run's name can be at most {NAME_LIMIT} characters (this one has {len(name)})")
    return name


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON scalars, or lists and string-keyed tables of them, at most ``_MAX_DEPTH`` deep."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if depth >= _MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


# Characters that move the cursor, colour a terminal or reorder text: never in a name.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _printable(text: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI for c in text)


@dataclasses.dataclass
class RunRecord:
    """One training run.

    Attributes:
        run_id: unique, sortable (start time plus model name).
        model: model name that was trained.
        config: the TrainConfig as a dict.
        status: ``running``, ``completed``, ``stopped`` or ``failed``.
        started: ISO time the run started.
        finished: ISO time it ended (None while running).
        curves: per-epoch lists (``epoch``, ``train_loss``, ``train_acc``, ``val_acc``,
            ``val_loss``, ``test_acc``, ``test_loss``, ``lr``, ``images_per_s``) and
            ``batch_loss`` (per batch, all epochs).
        final: final metrics (``train_acc``, ``test_acc``, ``images_per_s``, ...).
        message: why a run stopped or failed.
        checkpoint: path of its last checkpoint, if any.
        name: the user's name for the run (empty: none given).

    Build one from stored data with ``from_dict``, which checks every field.
    """

    run_id: str
    model: str
    config: dict[str, Any]
    status: str = "running"
    started: str = ""
    finished: str | None = None
    curves: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    final: dict[str, Any] = dataclasses.field(default_factory=dict)
    message: str = ""
    checkpoint: str | None = None
    name: str = ""

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """The record ``data`` (a parsed JSON document) holds; keys this version does not
        know are ignored.

        Raises:
            RecordError: a field is missing or of the wrong type (one line, naming it).
        """
        if not isinstance(data, dict):
            raise RecordError("not a run record (not a JSON object)")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("run_id", "model", "config"):
            if key not in values:
                raise RecordError(f"no {key!r}")

        def text(key: str, optional: bool = False, printable: bool = True) -> None:
            value = values.get(key)
            if value is None and optional:
                return
            if not isinstance(value, str) or (printable and not _printable(value)):
                raise RecordError(f"{key!r} is not {'plain text' if isinstance(value, str) else 'text'}")

        for key in ("run_id", "model"):
            text(key)
        if not values["run_id"] or not values["model"]:
            raise RecordError("empty 'run_id' or 'model'")
        if values.get("status", "running") not in STATUSES:
            raise RecordError(f"'status' is not one of {', '.join(STATUSES)}")
        for key in ("started", "name"):
            if key in values:
                text(key, printable=key != "name")
        text("finished", optional=True)
        text("checkpoint", optional=True)
        if "message" in values:
            text("message", printable=False)
        config = values["config"]
        if not isinstance(config, dict) or not _plain(config):
            raise RecordError("'config' is not a table of options")
        curves = values.get("curves", {})
        if not isinstance(curves, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(x is None or _is_number(x) for x in v)
            for k, v in curves.items()
        ):
            raise RecordError("'curves' is not a table of lists of numbers")
        final = values.get("final", {})
        if not isinstance(final, dict) or not _plain(final):
            raise RecordError("'final' is not a table of metrics")
        for key in (*FINAL_METRICS, "epochs"):
            if final.get(key) is not None and not _is_number(final[key]):
                raise RecordError(f"'final' {key!r} is not a number")
        record = cls(**values)
        # A name an older version let through: shown without its control characters.
        record.name = "".join(c if _printable(c) else " " for c in record.name).strip()
        return record

    @property
    def label(self) -> str:
        """Short text for a list of runs."""
        acc = self.final.get("test_acc")
        acc_text = f"test {acc:.3f}" if isinstance(acc, (int, float)) else self.status
        cfg = self.config
        if self.name:
            return f"{self.name} · {acc_text}"
        return f"{self.started[5:16].replace('T', ' ')} {self.model} {cfg.get('optimizer')} lr {cfg.get('lr')} · {acc_text}"


def runs_dir() -> Path:
    return settings.user_data_dir() / "runs"


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
        return write_json(path, dataclasses.asdict(record), action="write run record")

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
            record.name = name
            return record

        return self.update(run_id, change)

    def delete(self, run_id: str) -> None:
        with self.locked(run_id):
            self.path_of(run_id).unlink(missing_ok=True)
