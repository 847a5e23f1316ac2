"""Changing a shipped weights file and its manifest record together, recoverably.

``replace_together`` (used by ``explorer.models.manifest.commit`` for NAME.pt, then
manifest.json) changes several files of one folder together:
  1. the new files are written whole and synced as temporaries beside the originals;
  2. the journal (``JOURNAL``: the writer's pid and the renames to do) is written
     atomically: from this moment the change is decided;
  3. they are renamed over the originals in order; the journal is removed.
A writer killed before 2 leaves the originals untouched (its temporaries are removed as
stale); killed after 2, the next reader of the manifest (``recover``, called by
``explorer.models.manifest.load``) does the renames that are left. Either way the weights
file always matches its record's hash. No torch here, and nothing about manifests.
"""

from __future__ import annotations

import json
import ntpath
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from explorer import files

# Written (atomically) once a weights file and its manifest are both ready beside the
# originals; while it exists, the replacement it lists is decided and is finished by
# whoever reads the manifest next (see ``replace_together``).
JOURNAL = ".manifest.journal.json"

_committing = threading.local()
_JOURNAL_LIMIT = 64 * 1024


def _journal_steps(folder: Path, doc: Any) -> list[tuple[Path, Path]] | None:
    steps = doc.get("replace") if isinstance(doc, dict) else None
    if not isinstance(steps, list) or not steps:
        return None
    found = []
    for step in steps:
        if not (isinstance(step, list) and len(step) == 2 and all(isinstance(s, str) for s in step)):
            return None
        tmp, dest = step
        plain = all(s and s == os.path.basename(s) and s == ntpath.basename(s) and s not in (".", "..") for s in step)
        if not plain or not tmp.startswith(files.tmp_prefix(Path(dest))) or not tmp.endswith(files.TMP_SUFFIX):
            return None
        found.append((folder / tmp, folder / dest))
    return found


def recover(folder: Path) -> bool:
    """Finish a weights-and-manifest replacement an interrupted writer left half done.

    Returns:
        True when nothing is (any longer) half done; False while a live writer holds the
        journal or the folder cannot be written (a read-only installation: the files are
        read as they are, and a hash mismatch says so).
    """
    journal = folder / JOURNAL
    if not os.path.lexists(journal):
        return True
    try:
        doc = files.read_json(journal, limit=_JOURNAL_LIMIT)
    except FileNotFoundError:
        return True  # its writer finished meanwhile
    except (OSError, ValueError):
        doc = None
    steps = _journal_steps(folder, doc)
    if steps is not None:
        pid = doc.get("pid")
        ours = pid == os.getpid()
        if ours and getattr(_committing, "active", False):
            return False
        try:
            young = time.time() - journal.stat().st_mtime < files.STALE_AFTER_S
        except OSError:
            young = False
        if not ours and isinstance(pid, int) and young and files.process_alive(pid):
            return False  # its writer is at work: it renames them itself in a moment
    try:
        for tmp, dest in steps or []:
            if os.path.lexists(tmp):
                files.replace(tmp, dest)
        files.fsync_folder(folder)
        journal.unlink(missing_ok=True)
        files.fsync_folder(folder)
    except OSError:
        return False
    return True


_TEMPORARY = re.compile(r"\.(?P<target>.+)\.\d+\.[0-9a-f]+" + re.escape(files.TMP_SUFFIX))


def clean_temporaries(folder: Path) -> None:
    """Remove the temporaries of writers killed before their journal was written."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    targets = {m["target"] for n in names if (m := _TEMPORARY.fullmatch(n))}
    for target in targets:
        try:
            files.clean_stale_temporaries(folder / target)
        except OSError:
            pass


def replace_together(folder: Path, contents: list[tuple[str, bytes]]) -> None:
    """Replace the files ``folder/NAME`` with their new ``contents``, all or none, in the
    order given (see the module docstring). Also finishes an earlier half-done change.

    Raises:
        WriteError: a file could not be written (a full disk names the free space and what
            was needed); the previous files are intact and no temporary is left.
    """
    current = folder
    written: list[Path] = []
    decided = False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        recover(folder)
        _committing.active = True
        try:
            for name, data in contents:
                current = folder / name
                written.append(files.write_temporary(current, data))
            steps = [[tmp.name, name] for tmp, (name, _) in zip(written, contents)]
            current = folder / JOURNAL
            files.write_atomic(current, json.dumps({"pid": os.getpid(), "replace": steps}), action="write")
            decided = True
            for tmp, (name, _) in zip(written, contents):
                current = folder / name
                files.replace(tmp, current)
            files.fsync_folder(folder)
            current = folder / JOURNAL
            current.unlink()
            files.fsync_folder(folder)
        except BaseException:
            if decided:
                _committing.active = False
                recover(folder)  # finish what is decided; if that fails too, the next reader does
            else:
                for tmp in written:
                    tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        if isinstance(exc, files.WriteError):
            raise
        needed = sum(len(data) for _, data in contents)
        raise files.WriteError(files.write_failure("write", current, exc, needed=needed), exc.errno) from exc
    finally:
        _committing.active = False
