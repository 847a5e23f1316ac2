"""Fault tests for the settings file: a corpus of bad files. Each falls back per key with a
warning naming what was wrong, keeps the good keys, is never rewritten by merely starting,
and lets the CLI run."""

from __future__ import annotations

import json

import pytest

from explorer.settings import DEFAULTS, Settings, data_dir
from .settings_corpus import BOM, CORPUS, write_settings as _write

@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_settings_fall_back_per_key_and_are_not_rewritten(name, isolated_folders, recwarn):
    content, fallback, kept = CORPUS[name]
    path = _write(isolated_folders, content)
    settings = Settings()
    for key, value in kept.items():
        assert settings.get(key) == value
    for key in fallback:
        assert settings.get(key) == DEFAULTS[key]
    if fallback or name == "empty":
        assert settings.warning and "\n" not in settings.warning
        assert len(recwarn) == 1  # one warning, however many keys were bad
    if fallback and len(fallback) < len(DEFAULTS):
        for key in fallback:
            assert repr(key) in settings.warning  # names the key
    # The window re-sets the model it opened: that is not a change, nothing is written.
    settings.set("last_model", settings.get("last_model"))
    if content == "folder":
        assert path.is_dir()
    else:
        assert path.read_bytes() == content


def test_bom_is_accepted(isolated_folders, recwarn):
    path = _write(isolated_folders, BOM + json.dumps({"theme": "dark", "device": "cpu"}).encode())
    settings = Settings()
    assert settings.warning is None and not recwarn
    assert settings.get("theme") == "dark" and settings.get("device") == "cpu"
    assert path.read_bytes().startswith(BOM)  # untouched


def test_a_user_change_keeps_a_copy_of_an_unreadable_file(isolated_folders):
    path = _write(isolated_folders, b"{\"theme\": \"dark\",,}")
    with pytest.warns(UserWarning, match="corrupt"):
        settings = Settings()
    assert settings.set("theme", "dark") is True
    assert path.with_name("settings.json.bad").read_bytes() == b"{\"theme\": \"dark\",,}"
    assert json.loads(path.read_text())["theme"] == "dark"


def test_unknown_keys_and_refused_values_survive_a_save(isolated_folders):
    path = _write(isolated_folders, json.dumps({"future_key": [1], "theme": "purple"}).encode())
    with pytest.warns(UserWarning, match="'theme'"):
        settings = Settings()
    settings.set("device", "cpu")
    stored = json.loads(path.read_text())
    # Neither the key from a newer version nor the user's (refused) theme is lost.
    assert stored["future_key"] == [1] and stored["device"] == "cpu" and stored["theme"] == "purple"
    assert Settings().get("theme") == "light"


def test_a_folder_in_the_way_is_reported_on_save_not_raised(isolated_folders):
    _write(isolated_folders, "folder")
    with pytest.warns(UserWarning):
        settings = Settings()
    with pytest.warns(UserWarning, match="cannot save settings"):
        assert settings.set("theme", "dark") is False
    assert settings.get("theme") == "dark"


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_cli_starts_with_every_bad_file(name, isolated_folders, capsys, monkeypatch):
    """`train` reads the data folder from the settings ({"data_dir": 123} raised TypeError)."""
    from torchvision.datasets import FashionMNIST

    from explorer.cli import main

    def offline(self):
        raise OSError("no network in tests")

    monkeypatch.setattr(FashionMNIST, "download", offline)
    _write(isolated_folders, CORPUS[name][0])
    assert isinstance(data_dir(), type(isolated_folders))
    code = main(["train", "lenet_small", "--epochs", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "error: Fashion-MNIST could not be downloaded" in err, err
    assert "unexpected" not in err and "Traceback" not in err
