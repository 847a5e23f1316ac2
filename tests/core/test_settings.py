import errno
import json

import pytest

from explorer import files
from explorer.settings import Settings, data_dir


def test_defaults_then_roundtrip(isolated_folders):
    s = Settings()
    assert s.get("theme") == "light"
    s.set("theme", "dark")
    assert Settings().get("theme") == "dark"
    assert (isolated_folders / "config" / "settings.json").exists()


def test_corrupt_file_falls_back_with_warning(isolated_folders):
    path = isolated_folders / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    with pytest.warns(UserWarning, match="corrupt"):
        s = Settings()
    assert s.get("theme") == "light"
    assert "corrupt" in s.warning
    s.set("theme", "dark")  # saving repairs the file
    assert json.loads(path.read_text())["theme"] == "dark"


def test_non_object_json_and_unknown_keys(isolated_folders):
    path = isolated_folders / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.warns(UserWarning):
        assert Settings().get("device") == "auto"
    path.write_text(json.dumps({"theme": "dark", "bogus": 1}), encoding="utf-8")
    s = Settings()
    assert s.get("theme") == "dark" and s.get("bogus") is None
    with pytest.raises(KeyError):
        s.set("bogus", 2)


def test_failed_save_leaves_old_file(isolated_folders, monkeypatch):
    s = Settings()
    s.set("theme", "dark")
    path = s.path

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_temporary", disk_full)
    with pytest.warns(UserWarning, match=r"cannot save settings to .*: disk full \("):
        assert s.set("theme", "light") is False
    assert s.get("theme") == "light"  # holds for this session
    assert json.loads(path.read_text())["theme"] == "dark"
    assert not list(path.parent.glob(".*.tmp"))


def test_data_dir_precedence(isolated_folders, monkeypatch, tmp_path):
    assert data_dir() == isolated_folders / "cache" / "data"
    Settings().set("data_dir", str(tmp_path / "from-settings"))
    assert data_dir() == tmp_path / "from-settings"
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path / "from-env"))
    assert data_dir() == tmp_path / "from-env"
    assert data_dir(tmp_path / "from-cli") == tmp_path / "from-cli"
