"""User settings and the folders the app reads and writes.

Settings live as JSON in the platform config folder. A corrupt or unreadable file falls
back to defaults with a warning: losing a theme choice is better than refusing to start.
Each folder can be redirected by an environment variable, which the tests use to keep
away from the user's real files.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import platformdirs

APP = "cnn-explorer"

DEFAULTS: dict[str, Any] = {
    "theme": "light",
    "data_dir": None,
    "device": "auto",
    "last_model": "resnet18",
}


def config_dir() -> Path:
    return Path(os.environ.get("CNN_EXPLORER_CONFIG_DIR") or platformdirs.user_config_dir(APP))


def cache_dir() -> Path:
    return Path(os.environ.get("CNN_EXPLORER_CACHE_DIR") or platformdirs.user_cache_dir(APP))


def user_data_dir() -> Path:
    """Where run history and checkpoints live."""
    return Path(os.environ.get("CNN_EXPLORER_DATA_HOME") or platformdirs.user_data_dir(APP))


class Settings:
    """A small persistent key/value store over a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "settings.json"
        self._values = dict(DEFAULTS)
        self.warning: str | None = None
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            self._warn(f"cannot read settings file {self.path} ({exc.strerror}); using defaults")
            return
        try:
            stored = json.loads(text)
            if not isinstance(stored, dict):
                raise ValueError("not an object")
        except ValueError:
            self._warn(f"settings file {self.path} is corrupt; using defaults")
            return
        self._values.update({k: v for k, v in stored.items() if k in DEFAULTS})

    def _warn(self, message: str) -> None:
        self.warning = message
        warnings.warn(message, stacklevel=3)

    def get(self, key: str) -> Any:
        return self._values.get(key, DEFAULTS.get(key))

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown setting {key!r}")
        self._values[key] = value
        self.save()

    def save(self) -> None:
        """Write atomically so a crash never leaves a half-written settings file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._values, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def data_dir(cli_value: str | os.PathLike | None = None, settings: Settings | None = None) -> Path:
    """The folder holding ``FashionMNIST/raw``: --data-dir, else $CNN_EXPLORER_DATA, else the
    settings, else the platform cache folder."""
    if cli_value:
        return Path(cli_value).expanduser()
    env = os.environ.get("CNN_EXPLORER_DATA")
    if env:
        return Path(env).expanduser()
    stored = (settings or Settings()).get("data_dir")
    if stored:
        return Path(stored).expanduser()
    return cache_dir() / "data"
