"""The model files opened lately: File > Open Recent, the model list's "Your models", and
the model remembered from the last session.

Each entry is a file model's source string with the SHA-256 and size its file had when it
last opened, kept newest first in the ``recent_models`` setting (validated there: a
damaged list reads as empty). The hash says, when an entry is chosen again, whether the
file has changed since; trust in a Python file is by hash too, so a changed ``.py`` is
asked about again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from explorer.errors import ModelError
from explorer.loading import display_name
from explorer.models.sources import PYTHON_SUFFIX, is_file_source, parse_source
from explorer.settings import RECENT_MODELS, SCHEMA, Settings
from explorer.ui.model_picker import PickerEntry

_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class FileStamp:
    """What a file was when a model was opened from it."""

    sha256: str
    size: int


def file_stamp(path: str | os.PathLike) -> FileStamp:
    """The file's SHA-256 and size, read in chunks (a program may be hundreds of MB).

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileStamp(digest.hexdigest(), size)


def source_path(source: str) -> Path:
    """The file a file model's source string names (``/a/net.py:Net?args=...`` -> ``/a/net.py``)."""
    base = source.split("?", 1)[0]
    if not base.endswith(".pt2") and ".py:" in base:
        base = base.rsplit(":", 1)[0]
    return Path(base)


class RecentModels:
    """The ``recent_models`` setting, read and written whole."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def entries(self) -> list[tuple[str, FileStamp]]:
        """(source, stamp) newest first."""
        return [(e["source"], FileStamp(e["sha256"], e["size"])) for e in self._settings.get("recent_models")]

    @property
    def sources(self) -> list[str]:
        return [source for source, _stamp in self.entries()]

    def stamp(self, source: str) -> FileStamp | None:
        """The stamp ``source``'s file had when it last opened, or None if it is not listed."""
        return dict(self.entries()).get(source)

    def add(self, source: str, stamp: FileStamp) -> None:
        """Put ``source`` first (once), keeping the newest RECENT_MODELS."""
        kept = [(s, st) for s, st in self.entries() if s != source]
        self._store([(source, stamp), *kept][:RECENT_MODELS])

    def remove(self, source: str) -> None:
        self._store([(s, st) for s, st in self.entries() if s != source])

    def clear(self) -> None:
        self._store([])

    def _store(self, entries: list[tuple[str, FileStamp]]) -> None:
        value = [{"source": s, "sha256": st.sha256, "size": st.size} for s, st in entries]
        # A source the schema refuses (over 4096 characters) is not remembered.
        self._settings.set("recent_models", [e for e in value if SCHEMA["recent_models"].valid([e])])


def recent_label(source: str) -> str:
    """A Recent entry as a menu shows it: ``Net (net.py) — ~/models``."""
    try:
        title = parse_source(source).title
    except ModelError:
        title = display_name(source)
    folder = str(source_path(source).parent)
    home = str(Path.home())
    if folder == home or folder.startswith(home + "/"):
        folder = "~" + folder[len(home):]
    return f"{title} — {folder}"


def recent_entries(sources: list[str]) -> list[PickerEntry]:
    """The model list's "Your models": each file model by its title, its path as tooltip."""
    entries = []
    for source in sources:
        try:
            title = parse_source(source).title
        except ModelError:
            continue  # not a source this version reads: File > Open Recent still lists it
        entries.append(PickerEntry(source, title, source))
    return entries


def remembered_problem(source: str) -> str | None:
    """Why the model remembered from the last session cannot open now without asking (one
    line), or None: a file that moved, a Python file not trusted as it is now, a name this
    version does not know."""
    if not is_file_source(source):
        from explorer.models.torchvision_models import classifier_names

        return None if source in classifier_names() else f"remembered model {source!r} is unknown"
    path = source_path(source)
    if not path.is_file():
        return f"{path.name} is no longer at {path.parent} (moved or deleted)"
    if path.suffix == PYTHON_SUFFIX:
        from explorer.models.python_file import is_trusted

        try:
            if not is_trusted(path):
                return f"{path.name} has not been allowed to run as it is now (open it again to be asked)"
        except ModelError as exc:
            return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


class RecentMenu(QMenu):
    """File > Open Recent: the model files opened lately, newest first, and Clear Recent.

    Signals:
        chosen(str): an entry was chosen (its source).
        cleared(): the list was emptied.
    """

    chosen = Signal(str)
    cleared = Signal()

    def __init__(self, recent: RecentModels, parent: QWidget | None = None) -> None:
        super().__init__("Open &Recent", parent)
        self.recent = recent
        self.setToolTipsVisible(True)  # the whole path of each entry
        self.aboutToShow.connect(self.refresh)
        self.triggered.connect(self._on_triggered)
        self.refresh()

    def refresh(self) -> None:
        self.clear()
        sources = self.recent.sources
        for number, source in enumerate(sources, 1):
            action = self.addAction(f"&{number} {recent_label(source).replace('&', '&&')}")
            action.setToolTip(str(source_path(source)))
            action.setData(source)
        if not sources:
            self.addAction("No recent models").setEnabled(False)
        self.addSeparator()
        clear = self.addAction("&Clear Recent")
        clear.setData(CLEAR)
        clear.setEnabled(bool(sources))

    def _on_triggered(self, action: QAction) -> None:
        data = action.data()
        if data == CLEAR:
            self.recent.clear()
            self.refresh()
            self.cleared.emit()
        elif isinstance(data, str) and data:
            self.chosen.emit(data)


CLEAR = "\0clear"
