"""Fault tests for starting the window: every bad settings file of the corpus, and a data
folder that cannot be read, still give a ready window."""

from __future__ import annotations

import errno
import pathlib

import pytest

from explorer.settings import DEFAULTS, Settings
from explorer.ui.main_window import MainWindow

from ..core.settings_corpus import CORPUS, write_settings as _write


def _start(qtbot, initial_model, data_dir=None) -> MainWindow:
    window = MainWindow(Settings(), initial_model=initial_model, data_dir=data_dir)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.ready, timeout=120_000):
        window.show()
    return window


@pytest.mark.parametrize("name", sorted(CORPUS))
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_window_starts_with_every_bad_settings_file(name, qtbot, isolated_folders):
    content, _fallback, _kept = CORPUS[name]
    _write(isolated_folders, content)
    remembered = name == "unknown-model"
    window = _start(qtbot, None if remembered else "lenet_small")
    try:
        # The theme in use is a real one and the model asked for (or the default) is open.
        assert window.settings.get("theme") in ("light", "dark")
        qtbot.waitUntil(lambda: window.current_model is not None, timeout=60_000)
        assert window.current_model == (DEFAULTS["last_model"] if remembered else "lenet_small")
    finally:
        window.close()


def test_window_starts_with_an_unreadable_data_folder(qtbot, isolated_folders, tmp_path, monkeypatch):
    """chmod 000 does not stop root (the tests' user), so the refusal is made where the OS
    would make it: every look inside the raw folder raises PermissionError."""
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    Settings().set("data_dir", str(tmp_path / "data"))
    real_stat = pathlib.Path.stat

    def stat(self, *args, **kwargs):
        if str(self).startswith(str(raw) + "/"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "stat", stat)
    window = _start(qtbot, "lenet_small")
    try:
        assert not window.feature_panel.image_source.fashion_button.isEnabled()  # the panel says so in place
    finally:
        window.close()
