"""First-start check: the system libraries Qt's X11 (xcb) platform plugin needs on Linux.

PySide6's wheels bundle Qt itself but not the X11 client libraries its ``xcb`` platform
plugin links against. On a bare desktop (a fresh Debian or Ubuntu without other Qt
programs) some are missing and Qt aborts with "could not load the Qt platform plugin
xcb" and a wall of text that names none of them. This module names them and the command
that installs them before any Qt window is created. No Qt here (it runs before Qt).

The list comes from ``ldd`` on PySide6's ``Qt/plugins/platforms/libqxcb.so`` and its
``Qt/lib/libQt6XcbQpa.so.6`` (PySide6 6.x): every system library they load from outside
the wheel that a minimal desktop may lack (glibc, libstdc++, GLib and zlib are left out:
no Linux desktop is without them). ``tests/core/test_platform_check.py`` checks it
against ``ldd`` of the installed plugin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

# soname -> the Debian/Ubuntu package that ships it.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
}

LibraryFinder = Callable[[str], bool]


def uses_xcb(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt will pick its X11 (xcb) platform plugin in this environment.

    Only on Linux (and the BSDs, which use it too), and not when ``QT_QPA_PLATFORM``
    names another plugin (``offscreen``, ``wayland``, ``eglfs``) or, left unset, a
    Wayland session makes Qt 6 try its Wayland plugin first.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin", "cygwin")):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        # "xcb:option=value" or a fallback list "wayland;xcb": the first entry wins.
        return chosen.split(";")[0].split(":")[0].strip() == "xcb"
    wayland = environ.get("XDG_SESSION_TYPE") == "wayland" and bool(environ.get("WAYLAND_DISPLAY"))
    return not wayland


def ldconfig_libraries(environ: Mapping[str, str] | None = None) -> set[str] | None:
    """The sonames the dynamic loader can find: ``ldconfig -p`` plus ``LD_LIBRARY_PATH``.

    Returns None when ``ldconfig`` cannot be run (then nothing can be said).
    """
    environ = os.environ if environ is None else environ
    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if Path(p).exists()), None
    )
    if ldconfig is None:
        return None
    try:
        listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = set()
    for line in listing.splitlines()[1:]:
        name = line.strip().split(" ", 1)[0]
        if name:
            found.add(name)
    for folder in environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        if folder and Path(folder).is_dir():
            found.update(p.name for p in Path(folder).iterdir())
    return found


def missing_libraries(finder: LibraryFinder | None = None, libraries: Iterable[str] = XCB_LIBRARIES) -> list[str]:
    """The sonames of ``libraries`` that ``finder`` cannot find (default: ``ldconfig``)."""
    if finder is None:
        known = ldconfig_libraries()
        if known is None:
            return []
        finder = known.__contains__
    return [name for name in libraries if not finder(name)]


def install_hint(missing: Iterable[str]) -> str:
    """One line naming the missing libraries and the command that installs them."""
    missing = list(missing)
    packages = sorted({XCB_LIBRARIES.get(name, name) for name in missing})
    return (
        f"Qt's X11 platform plugin needs system libraries that are missing: {', '.join(missing)}. "
        f"Install them (Debian/Ubuntu) with: sudo apt-get install {' '.join(packages)}"
    )


def check_platform(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    finder: LibraryFinder | None = None,
) -> str | None:
    """None when the window can start; else the one-line message to print before exiting."""
    if not uses_xcb(environ, platform):
        return None
    missing = missing_libraries(finder)
    return install_hint(missing) if missing else None
