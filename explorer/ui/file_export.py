"""Saving an export from the window, one way for every view (issue 17).

``save_export`` refuses a place an export must not go (the app's own folders, a name too
long: ``exports.check_export_path``), asks before replacing an existing file unless the
save dialog already asked for exactly that name, then writes the bytes whole through
``exports.write_export`` (temporary beside the file, fsync, rename). Any failure is one
line handed to the view's own message line; the file that was there is left as it was.
Views render into memory (``image_bytes``, a ``QBuffer``), never to a path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtWidgets import QMessageBox, QWidget

from explorer.errors import UserError
from explorer.exports import check_export_path, write_export


def may_replace(parent: QWidget | None, path: Path) -> bool:
    """Ask whether an existing file may be replaced by an export (No is the default)."""
    answer = QMessageBox.question(
        parent,
        "Replace file?",
        f"{path.name} already exists in {path.parent}. Replace it?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def save_export(parent: QWidget | None, path: str | Path, produce: Callable[[Path], bytes | str | Path], *,
                report: Callable[[str], None], confirmed: bool = False) -> Path | None:
    """Write an export to ``path``; the path written, or None when it was refused, declined
    or failed (the reason, one line, went to ``report``; a declined replace says nothing).

    Args:
        parent: the view asking (the parent of the replace question).
        path: where to write.
        produce: called with the checked path once it is accepted (so a refused place costs
            no rendering); returns the bytes to write, or the path it already wrote through
            ``exports.write_export`` itself (a core exporter). Raises ``UserError`` when it
            cannot render.
        report: shows one line in the view (its banner, status label or the status bar).
        confirmed: the save dialog already asked about replacing exactly this path.
    """
    try:
        path = check_export_path(path)
        if not confirmed and path.exists() and not may_replace(parent, path):
            return None
        result = produce(path)
        if isinstance(result, Path):
            return result
        return write_export(path, result)
    except UserError as exc:
        report(str(exc))
        return None


def image_bytes(image, kind: str = "PNG") -> bytes:
    """A ``QImage`` or ``QPixmap`` encoded in memory (``kind``: "PNG", "JPG", ...).

    Raises:
        UserError: Qt could not encode it.
    """
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    try:
        encoded = image.save(buffer, kind)
    finally:
        buffer.close()
    if not encoded or array.isEmpty():
        raise UserError(f"cannot encode the image as {kind}")
    return bytes(array.data())
