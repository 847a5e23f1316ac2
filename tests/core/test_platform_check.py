"""The first-start check of the X11 libraries Qt's xcb plugin needs (no display needed)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from explorer import app, platform_check
from explorer.platform_check import XCB_LIBRARIES, check_platform, install_hint, missing_libraries, uses_xcb

ALL_PRESENT = XCB_LIBRARIES.__contains__


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb:dpiawareness=1"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
        ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"}, "linux", True),
        ({}, "win32", False),
        ({}, "darwin", False),
    ],
)
def test_only_the_xcb_platform_is_checked(environ, platform, expected):
    assert uses_xcb(environ, platform) is expected


def test_missing_libraries_are_named_with_the_install_command():
    absent = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"}
    message = check_platform({}, "linux", finder=lambda name: name not in absent)
    assert message is not None and "\n" not in message
    for name in absent:
        assert name in message
    assert message.endswith("sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1")


def test_nothing_to_say_when_all_present_or_not_xcb():
    assert check_platform({}, "linux", finder=ALL_PRESENT) is None
    assert check_platform({"QT_QPA_PLATFORM": "offscreen"}, "linux", finder=lambda name: False) is None
    assert check_platform({}, "win32", finder=lambda name: False) is None


def test_every_library_has_its_debian_package():
    hint = install_hint(XCB_LIBRARIES)
    assert hint.split("sudo apt-get install ")[1].split() == sorted(set(XCB_LIBRARIES.values()))
    assert missing_libraries(finder=lambda name: name != "libGL.so.1") == ["libGL.so.1"]


def test_ldconfig_listing_and_library_path_are_read(tmp_path, monkeypatch):
    if shutil.which("ldconfig") is None and not Path("/sbin/ldconfig").exists() and not Path("/usr/sbin/ldconfig").exists():
        pytest.skip("no ldconfig here")
    (tmp_path / "libxcb-icccm.so.4").write_bytes(b"")
    known = platform_check.ldconfig_libraries({"LD_LIBRARY_PATH": str(tmp_path)})
    assert known is not None and "libc.so.6" in known and "libxcb-icccm.so.4" in known


def test_the_list_covers_what_the_installed_plugin_links(tmp_path):
    """Every X11, xcb, xkb, GL and font library of PySide6's xcb plugin is in the list."""
    PySide6 = pytest.importorskip("PySide6")
    qt = Path(PySide6.__file__).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.exists() or shutil.which("ldd") is None:
        pytest.skip("no xcb plugin or no ldd here")
    linked = set()
    for library in (plugin, *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))[:1]):
        output = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=30).stdout
        linked.update(line.split()[0] for line in output.splitlines() if "=>" in line)
    relevant = {name for name in linked
                if any(key in name for key in ("xcb", "X11", "xkb", "EGL", "libGL.", "fontconfig", "freetype", "dbus"))}
    assert relevant and relevant <= set(XCB_LIBRARIES)


def test_the_app_exits_with_the_message_before_creating_qt(monkeypatch, capsys):
    monkeypatch.setattr(platform_check, "check_platform", lambda: "Qt's X11 platform plugin needs libxcb-icccm.so.4")
    args = argparse.Namespace(screenshot=None, model=None, theme=None, data_dir=None)
    assert app.run_gui(args) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: Qt's X11 platform plugin needs libxcb-icccm.so.4"]


def test_readme_lists_every_package():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    for package in XCB_LIBRARIES.values():
        assert f" {package} " in section.replace("\\\n", " ").replace("\n", " ") + " ", package
