"""What every export from the window must hold (issue 17), checked the same way for each
view: replacing an existing file asks first and "No" keeps it; a full disk keeps the old
file byte for byte, leaves no temporary and says "disk full (" in one line; a path in the
app's runs folder is refused; "Yes" replaces the file."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from explorer import files
from explorer.train.history import runs_dir

OLD = b"an older export\n"


def _no_space(path, data):
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def assert_export_is_safe(export: Callable[[Path, bool], object], shown: Callable[[], str], folder: Path,
                          name: str, monkeypatch) -> None:
    """``export(path, confirmed)`` is truthy when it wrote; ``shown()`` is the view's line."""
    target = folder / name
    target.write_bytes(OLD)
    asked: list[str] = []

    def answer(reply):
        return lambda _parent, _title, text, *a, **k: asked.append(text) or reply

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert not export(target, False)
    assert target.read_bytes() == OLD and len(asked) == 1 and name in asked[0]

    with monkeypatch.context() as patch:
        patch.setattr(files, "write_temporary", _no_space)
        assert not export(target, True)
    line = shown()
    assert target.read_bytes() == OLD and sorted(p.name for p in folder.iterdir()) == [name]
    assert "disk full (" in line and "\n" not in line and len(asked) == 1

    record = runs_dir() / f"20260101-000000-lenet5{Path(name).suffix}"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_bytes(OLD)
    assert not export(record, True)
    assert record.read_bytes() == OLD and "refusing to write" in shown()

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    assert export(target, False)
    assert target.read_bytes() != OLD and len(asked) == 2
