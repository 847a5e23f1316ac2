"""User settings and the folders the app reads and writes.

Settings live as JSON in the platform config folder, each key checked against ``SCHEMA``
(type and allowed values). A bad key falls back to its default with one warning naming
it, the others are kept; a file that cannot be read or parsed at all falls back to
defaults with a warning: losing a theme choice is better than refusing to start. The file
is only written when the user changes a setting, and a file that could not be parsed is
kept beside it as ``settings.json.bad`` first. Each folder can be redirected by an
environment variable, which the tests use to keep away from the user's real files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs

from explorer.errors import describe_os_error
from explorer.files import WriteError, set_aside, write_json

APP = "cnn-explorer"
THEMES = ("light", "dark")
DEVICES = ("auto", "cpu", "cuda", "mps")
# A settings file is a handful of keys; anything this large is not ours.
MAX_BYTES = 1 << 20
_MODEL_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# A model opened from a file is remembered by its source string (explorer.models.sources,
# not imported here: it would import the models): a .pt2 path or path/net.py:ClassName,
# with options after a "?".
_FILE_SOURCE = re.compile(r".*(\.pt2|\.py:[A-Za-z_][A-Za-z0-9_]*)")
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_SOURCE = 4096
#: How many file models File > Open Recent keeps.
RECENT_MODELS = 8
_WARNED: set[str] = set()


def _is_folder_text(value: Any) -> bool:
    return value is None or (isinstance(value, str) and bool(value.strip()) and "\0" not in value and len(value) < 4096)


def _is_model_source(value: Any) -> bool:
    """A registry or torchvision name, or the source string of a model file."""
    if not isinstance(value, str) or not value or len(value) > MAX_SOURCE:
        return False
    if _MODEL_NAME.fullmatch(value):
        return True
    base = value.split("?", 1)[0]
    return "\0" not in value and "\n" not in value and bool(_FILE_SOURCE.fullmatch(base))


def _is_recent_entry(entry: Any) -> bool:
    return (isinstance(entry, dict) and set(entry) == {"source", "sha256", "size"}
            and _is_model_source(entry["source"]) and not _MODEL_NAME.fullmatch(entry["source"])
            and isinstance(entry["sha256"], str) and bool(_SHA256.fullmatch(entry["sha256"]))
            and isinstance(entry["size"], int) and not isinstance(entry["size"], bool) and entry["size"] >= 0)


def _is_recent_list(value: Any) -> bool:
    """At most RECENT_MODELS file models, each once: {"source", "sha256", "size"}."""
    return (isinstance(value, list) and len(value) <= RECENT_MODELS and all(_is_recent_entry(e) for e in value)
            and len({e["source"] for e in value}) == len(value))


@dataclasses.dataclass(frozen=True)
class Setting:
    """One key: its default, a check of a stored value, and what the check wants (for
    the warning)."""

    default: Any
    valid: Callable[[Any], bool]
    wants: str


SCHEMA: dict[str, Setting] = {
    "theme": Setting("light", lambda v: v in THEMES, f"one of {', '.join(THEMES)}"),
    "data_dir": Setting(None, _is_folder_text, "a folder path or null"),
    "device": Setting("auto", lambda v: v in DEVICES, f"one of {', '.join(DEVICES)}"),
    # The registry is not imported here (it needs torch); the window checks the name. A
    # first launch opens the trained small ResNet-18 (shipped weights, a built-in sample),
    # whose maps show what a network learned; the reference model is one click above it.
    "last_model": Setting("resnet18_small", _is_model_source, "a model name or a model file's source"),
    # File > Open Recent, newest first: each file's SHA-256 and size say whether it changed.
    "recent_models": Setting(
        [], _is_recent_list,
        f"a list of at most {RECENT_MODELS} {{\"source\", \"sha256\", \"size\"}} objects, one per source",
    ),
}
DEFAULTS: dict[str, Any] = {key: setting.default for key, setting in SCHEMA.items()}


def config_dir() -> Path:
    return Path(os.environ.get("CNN_EXPLORER_CONFIG_DIR") or platformdirs.user_config_dir(APP))


def cache_dir() -> Path:
    return Path(os.environ.get("CNN_EXPLORER_CACHE_DIR") or platformdirs.user_cache_dir(APP))


def user_data_dir() -> Path:
    """Where run history and checkpoints live."""
    return Path(os.environ.get("CNN_EXPLORER_DATA_HOME") or platformdirs.user_data_dir(APP))


def runs_dir() -> Path:
    """The training runs' records (``explorer.train.history``); exports refuse it without
    importing the training package."""
    return user_data_dir() / "runs"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Settings:
    """A small persistent key/value store over a JSON file, validated per key.

    Attributes:
        warning: one line saying what was wrong with the file (every problem found), or
            None.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "settings.json"
        self._values = dict(DEFAULTS)
        # Keys a newer version wrote, and values the schema refused: both are written back
        # as they were when the file is rewritten (unless the user sets that key).
        self._unknown: dict[str, Any] = {}
        self._refused: dict[str, Any] = {}
        self._unparsed = False
        self.warning: str | None = None
        self._problems: list[str] = []
        self._load()
        if self._problems:
            self.warning = f"settings file {self.path}: " + "; ".join(self._problems)
            # Several parts of the app read the settings; say what is wrong once.
            if self.warning not in _WARNED:
                _WARNED.add(self.warning)
                warnings.warn(self.warning, stacklevel=2)

    def _load(self) -> None:
        try:
            if not self.path.exists():
                return
            if not self.path.is_file():
                self._problems.append("not a file; using defaults")
                return
            if self.path.stat().st_size > MAX_BYTES:
                raise ValueError("too large")
            text = self.path.read_bytes().decode("utf-8-sig")  # a BOM is fine
            stored = json.loads(text)
        except OSError as exc:
            self._problems.append(f"cannot be read ({describe_os_error(exc)}); using defaults")
            return
        except (ValueError, RecursionError):
            # UnicodeDecodeError and JSONDecodeError are ValueErrors; deep nesting recurses.
            self._unparsed = True
            self._problems.append("corrupt (not JSON); using defaults")
            return
        if not isinstance(stored, dict):
            self._unparsed = True
            self._problems.append("corrupt (not a JSON object); using defaults")
            return
        for key, value in stored.items():
            setting = SCHEMA.get(key)
            if setting is None:
                self._unknown[key] = value
            elif setting.valid(value):
                self._values[key] = value
            else:
                self._refused[key] = value
                self._problems.append(f"{key!r} is {_short(value)}, not {setting.wants}; using {setting.default!r}")

    def get(self, key: str) -> Any:
        return self._values.get(key, DEFAULTS.get(key))

    def set(self, key: str, value: Any) -> bool:
        """Change a setting and save the file if the value changed.

        Returns:
            Whether it was saved; a failed save is reported in ``warning`` (and warned),
            never raised: the setting still holds for this session.

        Raises:
            KeyError: not a setting.
            ValueError: a value the schema refuses.
        """
        setting = SCHEMA.get(key)
        if setting is None:
            raise KeyError(f"unknown setting {key!r}")
        if not setting.valid(value):
            raise ValueError(f"setting {key!r} must be {setting.wants}, got {_short(value)}")
        if self._values.get(key) == value:
            return False  # the window re-sets what it opened: that is no change to save
        self._values[key] = value
        self._refused.pop(key, None)
        try:
            self.save()
        except OSError as exc:
            reason = str(exc) if isinstance(exc, WriteError) else f"cannot save settings to {self.path} ({describe_os_error(exc)})"
            self.warning = f"{reason}; the change holds until you quit"
            warnings.warn(self.warning, stacklevel=2)
            return False
        return True

    def save(self) -> None:
        """Write atomically so a crash never leaves a half-written settings file.

        Raises:
            OSError: the folder cannot be written (or the settings path is a folder).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and not self.path.is_file():
            raise IsADirectoryError(21, "the settings path is a folder", str(self.path))
        if self._unparsed and self.path.is_file():
            # Keep what the user had: it may be a hand edit that is one comma off.
            set_aside(self.path, ".bad")
            self._unparsed = False
        write_json(self.path, {**self._unknown, **self._values, **self._refused}, indent=2, action="save settings to")


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
