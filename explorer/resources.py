"""One resolver for files under resources/: a source checkout, an installed wheel, or a
PyInstaller bundle (which unpacks data under sys._MEIPASS)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_root() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "resources", here / "_resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("cnn-explorer's resources folder is missing from this installation")


def resource_path(relative: str) -> Path:
    """Path of ``resources/<relative>``; raises FileNotFoundError if it is absent."""
    path = resources_root() / relative
    if not path.exists():
        raise FileNotFoundError(f"missing resource {relative!r} (looked in {path.parent})")
    return path
