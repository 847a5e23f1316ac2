"""The corpus of bad settings files the settings, CLI and window fault tests share."""

from __future__ import annotations

import json
from pathlib import Path

from explorer.settings import DEFAULTS

BOM = b"\xef\xbb\xbf"

# name -> (file bytes or "folder", keys expected to fall back, settings expected to survive)
CORPUS: dict[str, tuple[bytes | str, set[str], dict]] = {
    "random-bytes": (bytes(range(256)) * 8, set(DEFAULTS), {}),
    "theme-purple": (json.dumps({"theme": "purple", "device": "cpu"}).encode(), {"theme"}, {"device": "cpu"}),
    "device-quantum": (json.dumps({"device": "quantum", "theme": "dark"}).encode(), {"device"}, {"theme": "dark"}),
    "wrong-types": (json.dumps({"theme": 3, "device": ["cpu"], "last_model": {"a": 1}, "data_dir": False}).encode(),
                    {"theme", "device", "last_model", "data_dir"}, {}),
    "unknown-model": (json.dumps({"last_model": "no_such_net", "theme": "dark"}).encode(), set(), {"theme": "dark"}),
    "settings-is-a-folder": ("folder", set(DEFAULTS), {}),
    "deep-nesting": (b"[" * 200_000 + b"]" * 200_000, set(DEFAULTS), {}),
    "data-dir-int": (json.dumps({"data_dir": 123, "theme": "dark"}).encode(), {"data_dir"}, {"theme": "dark"}),
    "not-an-object": (b"[1, 2, 3]", set(DEFAULTS), {}),
    "empty": (b"", set(DEFAULTS), {}),
    "nul-in-path": (json.dumps({"data_dir": "a\u0000b", "device": "cpu"}).encode(), {"data_dir"}, {"device": "cpu"}),
}


def write_settings(isolated_folders: Path, content: bytes | str) -> Path:
    path = isolated_folders / "config" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == "folder":
        path.mkdir()
    else:
        path.write_bytes(content)
    return path
