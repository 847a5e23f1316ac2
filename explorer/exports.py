"""Files a user asks for (curves as CSV, graph drawings, benchmark results): where they may
go, and how they are written. The CLI and the window both come through here.

An export is built whole in memory and handed to ``files.write_atomic``: on any failure the
file that was there is intact, no temporary is left, and the message is one line. An export
never goes into one of the app's own folders (run records, settings, caches, the shipped
weights): ``graph --out runs/RUN.json`` would silently replace a run's record.

Standard library only, and only the base modules of the package (never torch or the
training package: the runs folder comes from ``settings.runs_dir``).
"""

from __future__ import annotations

import os
from pathlib import Path

from explorer.errors import UserError
from explorer.files import write_atomic

# POSIX's usual limits, used where the file system cannot be asked.
NAME_MAX = 255
PATH_MAX = 4096


def _short(name: str, keep: int = 40) -> str:
    return name if len(name) <= keep else name[: keep - 1] + "…"


def app_folders() -> list[tuple[str, Path]]:
    """(what it is, folder) for every folder the app keeps its own files in."""
    from explorer import settings

    folders: list[tuple[str, Path]] = [
        ("runs folder", settings.runs_dir()),
        ("data folder", settings.user_data_dir()),
        ("settings folder", settings.config_dir()),
        ("cache folder", settings.cache_dir()),
    ]
    try:
        folders.append(("Fashion-MNIST folder", settings.data_dir() / "FashionMNIST"))
    except (OSError, UserError):
        pass
    try:
        from explorer.resources import resources_root

        folders.append(("shipped weights and resources folder", resources_root()))
    except (OSError, ImportError):
        pass
    return folders


def _limit(folder: Path, name: str, default: int) -> int:
    probe = folder
    while not probe.is_dir() and probe != probe.parent:
        probe = probe.parent
    try:
        return int(os.pathconf(probe, name))
    except (OSError, ValueError, AttributeError):
        return default


def check_export_path(path: str | os.PathLike) -> Path:
    """Refuse, with one line, a path an export must not write: a file name too long for the
    file system, or a place inside one of the app's own folders.

    Returns:
        The path (``~`` expanded).

    Raises:
        UserError: why the path is refused.
    """
    path = Path(path).expanduser()
    name_max = _limit(path.parent, "PC_NAME_MAX", NAME_MAX)
    length = len(os.fsencode(path.name))
    if length > name_max:
        raise UserError(f"cannot write {_short(path.name)}: file name too long "
                        f"({length} bytes; this file system allows {name_max})")
    path_max = _limit(path.parent, "PC_PATH_MAX", PATH_MAX)
    if len(os.fsencode(str(path.absolute()))) >= path_max:
        raise UserError(f"cannot write {_short(path.name)}: path too long (the limit is {path_max} bytes)")
    target = path.resolve()
    for label, folder in app_folders():
        try:
            owned = folder.expanduser().resolve()
        except (OSError, RuntimeError):
            continue
        if target == owned or owned in target.parents:
            raise UserError(f"refusing to write {path}: it is inside this app's {label} ({folder}); "
                            "choose another place")
    return path


def write_export(path: str | os.PathLike, data: bytes | str, *, action: str = "write") -> Path:
    """Check ``path`` (``check_export_path``) and replace it with ``data`` atomically.

    Raises:
        UserError: the path is refused, or the file cannot be written (``files.WriteError``:
            the previous file is intact, no temporary is left).
    """
    return write_atomic(check_export_path(path), data, action=action)


def write_image_export(image, path: str | os.PathLike) -> Path:
    """Encode a Pillow image in memory, in the format its suffix names (.png, .jpg, ...),
    and ``write_export`` it.

    Raises:
        UserError: an unknown suffix, a refused path, or the file cannot be written.
    """
    import io

    from PIL import Image

    path = check_export_path(path)  # before encoding: a refused place costs nothing
    kind = Image.registered_extensions().get(path.suffix.lower())
    if kind is None:
        raise UserError(f"cannot write {path}: use an image file name such as .png")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=kind)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot write {path}: {kind} cannot hold this image ({exc})") from None
    return write_export(path, buffer.getvalue())
