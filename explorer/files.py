"""Every file the app writes goes through here; every file it reads starts here.

Writing: the bytes are written to a temporary file in the destination folder (named after
this process and a random token, so two writers never share one), flushed and fsynced, then
``os.replace``d over the destination. The rename is atomic on one file system, so at any
moment the path holds either the previous whole file or the new whole one. On any failure
the temporary is removed, the old file is untouched and the error is one line for the user
("cannot write X: disk full (12 KB free in /d, 40 KB needed)"). A kill between write and
rename leaves a stray temporary; ``clean_stale_temporaries`` removes it once its writer is
gone (its process no longer runs, or it is a day old), never while it may be in flight.

Reading: ``read_regular`` opens only regular files (a FIFO named ``x.json`` would block a
plain ``open`` for ever) and refuses ones over a size limit; ``read_json`` also turns a
document nested too deep for the parser into a plain ``ValueError``.

Standard library only: the core, the CLI and the window all use it before torch is loaded.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Any

from explorer.errors import UserError, describe_os_error

TMP_SUFFIX = ".tmp"
# A temporary whose writer cannot be identified is left alone for this long: long enough
# for any save to finish, short enough that litter does not pile up.
STALE_AFTER_S = 24 * 3600
# Records, manifests and settings are kilobytes; a run with a million batch losses is
# about 20 MB. Anything far larger is not ours.
JSON_LIMIT = 256 * 1024 * 1024


class WriteError(UserError, OSError):
    """A file could not be written; the previous file at that path is intact.

    Also an ``OSError`` (with the original errno) so callers that catch ``OSError`` keep
    working.
    """

    def __init__(self, message: str, errno_: int | None = None) -> None:
        UserError.__init__(self, message)
        self.errno = errno_
        self.strerror = message

    def __str__(self) -> str:
        return self.strerror


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def write_failure(action: str, path: Path, exc: OSError, needed: int | None = None) -> str:
    """One line for a failed write (``action``: "write", "save checkpoint"), by errno: a
    full disk names the free space and what was needed."""
    reason = describe_os_error(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        folder = path.parent if path.parent.exists() else Path.cwd()
        try:
            free = format_bytes(shutil.disk_usage(folder).free)
        except OSError:
            free = "unknown"
        need = f", {format_bytes(needed)} needed" if needed else ""
        reason = f"disk full ({free} free in {folder}{need})"
    return f"cannot {action} {path}: {reason}"


def tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (True when it cannot be told)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        # os.kill(pid, 0) would terminate the process on Windows; assume it lives.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _writer_pid(candidate: Path, path: Path) -> int | None:
    # ".<name>.<pid>.<token>.tmp"
    middle = candidate.name[len(tmp_prefix(path)) : -len(TMP_SUFFIX)]
    head = middle.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def clean_stale_temporaries(path: str | os.PathLike, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove temporary files an interrupted write of ``path`` left behind.

    A temporary is removed when the process that wrote it has ended, or when it is older
    than ``older_than_s``; one being written by a live process is left alone.

    Args:
        path: the file whose temporaries to remove (only files named after it are touched,
            so other writers in the same folder are left alone).
        older_than_s: age past which any temporary counts as abandoned.

    Returns:
        The removed files.
    """
    path = Path(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    now = time.time()
    for candidate in path.parent.glob(tmp_prefix(path) + "*" + TMP_SUFFIX):
        pid = _writer_pid(candidate, path)
        try:
            abandoned = now - candidate.stat().st_mtime >= older_than_s
            if abandoned or (pid is not None and not process_alive(pid)):
                candidate.unlink()
                removed.append(candidate)
        except FileNotFoundError:
            pass  # its writer renamed or removed it meanwhile
    return removed


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the platform allows opening a folder."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the data itself is synced
    finally:
        os.close(fd)


def temporary_for(path: Path) -> Path:
    """A fresh temporary name beside ``path`` that ``clean_stale_temporaries`` recognises."""
    return path.parent / f"{tmp_prefix(path)}{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}"


def write_temporary(path: Path, data: bytes) -> Path:
    """Write ``data`` whole and synced to a temporary beside ``path``; return its name.

    Raises:
        OSError: the write failed; no temporary is left.
    """
    tmp = temporary_for(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def replace(tmp: Path, path: Path) -> None:
    """``os.replace`` (a separate function so tests can simulate a kill before the rename)."""
    os.replace(tmp, path)


def set_aside(path: str | os.PathLike, suffix: str = ".bad") -> Path:
    """Rename ``path`` to ``path`` + ``suffix`` (over an older one), keeping a damaged file
    the user may want back before a fresh one is written in its place; the new name.

    Raises:
        OSError: it could not be renamed (``path`` is left where it was).
    """
    path = Path(path)
    aside = path.with_name(path.name + suffix)
    os.replace(path, aside)
    return aside


def write_atomic(path: str | os.PathLike, data: bytes | str, *, action: str = "write") -> Path:
    """Replace ``path`` with ``data`` all at once (text is written as UTF-8).

    Args:
        path: the destination; its folder is created when missing.
        data: the whole contents.
        action: the verb for the error message ("write", "save settings", ...).

    Returns:
        The path written.

    Raises:
        WriteError: the folder is not writable, the path is a folder, or the disk is full
            (naming the free space and what was needed); the previous file is intact and
            no temporary is left.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = write_temporary(path, raw)
        try:
            replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        if isinstance(exc, WriteError):
            raise
        raise WriteError(write_failure(action, path, exc, needed=len(raw)), exc.errno) from exc
    fsync_folder(path.parent)
    return path


def write_json(path: str | os.PathLike, document: Any, *, indent: int | None = None, action: str = "write") -> Path:
    """``write_atomic`` of ``document`` as JSON (serialised first: a value that cannot be
    written leaves the old file alone)."""
    return write_atomic(path, json.dumps(document, indent=indent, allow_nan=True), action=action)


def read_regular(path: str | os.PathLike, limit: int = JSON_LIMIT) -> bytes:
    """The bytes of a regular file, never blocking on a FIFO or a device.

    Raises:
        OSError: it cannot be opened (missing, permission).
        ValueError: it is not a regular file, or larger than ``limit``.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{format_bytes(info.st_size)}, more than the {format_bytes(limit)} allowed")
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise ValueError(f"more than the {format_bytes(limit)} allowed")
    return data


def read_json(path: str | os.PathLike, limit: int = JSON_LIMIT) -> Any:
    """Parse a regular file as JSON.

    Raises:
        OSError: it cannot be opened.
        ValueError: not a regular file, too large, not UTF-8, not JSON, or nested too deep.
    """
    data = read_regular(path, limit)
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason})") from None
