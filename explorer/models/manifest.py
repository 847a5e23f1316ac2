"""The shipped weights' manifest, read and validated in one place (this module needs no
torch).

Reading (``load``): the manifest is validated once, here; every reader (zoo list, inspect,
compare, scoreboard, the window's weights) goes through it. A bad entry costs only itself:
it is skipped with one warning naming the manifest and the entry. A manifest that cannot be
used at all raises ``ManifestError`` ("shipped weights unavailable: <reason>"). A record's
file must stay inside the weights folder.

Writing: ``write`` replaces the manifest atomically; ``zoo train`` changes a weights file
and its record together with ``explorer.models.weights_journal.commit``, whose half-done
changes ``load`` finishes first. Every function takes the weights folder;
``explorer.models.shipped`` supplies the package's.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import ntpath
import os
import re
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from explorer import files
from explorer.errors import ModelError, describe_os_error
from explorer.models.weights_journal import clean_temporaries, recover, replace_together
from explorer.models.zoo import ZOO_EPOCHS

MANIFEST = "manifest.json"
FORMAT = 1
# A manifest is tens of kilobytes.
MANIFEST_LIMIT = 16 * 1024 * 1024


class ManifestError(ModelError):
    """The manifest as a whole cannot be used, so no shipped weights are available; the
    message starts "shipped weights unavailable: " and says why."""


@dataclasses.dataclass(frozen=True)
class ShippedEntry:
    """One model's record in the manifest.

    Attributes:
        name: registry name of the small form.
        file: state dict file name inside the weights folder.
        sha256: hash of that file.
        bytes: its size.
        test_accuracy: accuracy of the stored weights on the test split they were scored on.
        train_accuracy: accuracy of the stored weights on the (unaugmented) training images.
        epochs: training epochs.
        seed: the run's seed.
        command: the command that trained it.
        params: trainable parameters.
        seconds: wall-clock training time.
        dataset: name, file hashes and image counts of the data it was trained and scored on.
        recipe: every training option (TrainConfig as a dict).
        torch: torch version that trained it.
        date: ISO date and time the run finished.
        device: where it trained.
    """

    name: str
    file: str
    sha256: str
    bytes: int
    test_accuracy: float
    train_accuracy: float
    epochs: int
    seed: int
    command: str
    params: int = 0
    seconds: float = 0.0
    dataset: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    recipe: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    torch: str = ""
    date: str = ""
    device: str = ""

    @property
    def label(self) -> str:
        """What the weights choice shows, e.g. "Fashion-MNIST, shipped: test 0.912"."""
        return f"Fashion-MNIST, shipped: test {self.test_accuracy:.3f}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ShippedEntry:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# ------------------------------------------------------------------ reading

# field: (kind, required); kind "number" is any finite int or float, never a bool.
_FIELDS: dict[str, tuple[str, bool]] = {
    "file": ("text", True), "sha256": ("text", True), "bytes": ("whole", True),
    "test_accuracy": ("number", True), "train_accuracy": ("number", True), "epochs": ("whole", True),
    "seed": ("whole", True), "command": ("text", True), "params": ("whole", False),
    "seconds": ("number", False), "dataset": ("table", False), "recipe": ("table", False),
    "torch": ("text", False), "date": ("text", False), "device": ("text", False), "dtype": ("text", False),
}
_KINDS = {"text": "text", "whole": "a whole number", "number": "a number", "table": "a table"}
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A validated manifest.

    Attributes:
        path: the manifest file.
        data: the document as stored, bad entries included (``zoo train`` rewrites it
            changing one record only).
        entries: the valid records by model name.
        skipped: why each invalid record was skipped, by model name.
        excluded: small forms that ship nothing, and why.
    """

    path: Path
    data: dict[str, Any]
    entries: dict[str, ShippedEntry]
    skipped: dict[str, str]
    excluded: dict[str, str]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "table":
        return isinstance(value, Mapping)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) if kind == "whole" else math.isfinite(value)


def file_problem(folder: Path, file: str) -> str | None:
    """Why ``file`` (a manifest's "file") may not be read from ``folder``, or None.

    Only a relative path that stays inside the folder is allowed: an absolute path, a
    drive, or one that resolves outside (``../x.pt``, through a link) is refused, whichever
    platform's separators it uses.
    """
    if not file.strip() or "\0" in file:
        return f"file {_show(file)} is not a file name"
    if PurePosixPath(file).is_absolute() or PureWindowsPath(file).is_absolute() or PureWindowsPath(file).drive:
        return f"file {_show(file)} is an absolute path; only files inside the weights folder are read"
    if ntpath.normpath(file).split("\\", 1)[0] == "..":
        return f"file {_show(file)} is outside the weights folder"
    try:
        base = folder.resolve()
        target = (base / file).resolve()
    except (OSError, RuntimeError, ValueError):
        return f"file {_show(file)} cannot be resolved"
    if target == base or not target.is_relative_to(base):
        return f"file {_show(file)} is outside the weights folder"
    return None


def _entry_problem(folder: Path, record: Any) -> str | None:
    if not isinstance(record, Mapping):
        return f"it is {_show(record)}, not a table"
    missing = [key for key, (_, required) in _FIELDS.items() if required and key not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    for key, (kind, _) in _FIELDS.items():
        if key in record and not _is_kind(record[key], kind):
            return f"{key} is {_show(record[key])}, not {_KINDS[kind]}"
    for key in ("test_accuracy", "train_accuracy"):
        if not 0.0 <= record[key] <= 1.0:
            return f"{key} {record[key]} is not between 0 and 1"
    if record["bytes"] < 0 or record["epochs"] < 0:
        return "bytes and epochs may not be negative"
    if not _SHA256.fullmatch(record["sha256"]):
        return f"sha256 {_show(record['sha256'])} is not a SHA-256 in hex"
    return file_problem(folder, record["file"])


def _parse_manifest(path: Path) -> Manifest:
    unavailable = "shipped weights unavailable"
    try:
        data = files.read_json(path, limit=MANIFEST_LIMIT)
    except FileNotFoundError:
        return Manifest(path, {"format": FORMAT, "models": {}}, {}, {}, {})
    except OSError as exc:
        raise ManifestError(f"{unavailable}: cannot read manifest {path} ({describe_os_error(exc)})") from None
    except ValueError as exc:
        raise ManifestError(f"{unavailable}: manifest {path} is unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{unavailable}: manifest {path} is {type(data).__name__}, not a JSON object")
    if not isinstance(data.get("models"), dict):
        raise ManifestError(f"{unavailable}: manifest {path} has no 'models' table")
    version = data.get("format", FORMAT)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT:
        raise ManifestError(f"{unavailable}: manifest {path} has format {_show(version)}; this version reads {FORMAT}")
    entries: dict[str, ShippedEntry] = {}
    skipped: dict[str, str] = {}
    for name, record in data["models"].items():
        problem = _entry_problem(path.parent, record)
        if problem is None:
            values = {k: v for k, v in record.items() if k in _FIELDS}
            for key in ("test_accuracy", "train_accuracy", "seconds"):
                if key in values:
                    values[key] = float(values[key])
            entries[name] = ShippedEntry.from_dict({**values, "name": name})
        else:
            skipped[name] = problem
    excluded = data.get("excluded", {})
    if not isinstance(excluded, dict) or not all(isinstance(v, str) for v in excluded.values()):
        skipped["excluded"] = f"'excluded' is {_show(excluded)}, not a table of reasons"
        excluded = {}
    return Manifest(path, data, entries, skipped, dict(excluded))


_cache: dict[str, tuple[Any, Manifest | ManifestError]] = {}
_cache_lock = threading.Lock()


def _stamp(path: Path) -> Any:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return time.monotonic()  # never equal: read again (and say why) next time
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def load(folder: str | os.PathLike | None = None) -> Manifest:
    """The manifest of the weights folder ``folder``, validated.

    A replacement an interrupted ``zoo train`` left half done is finished first (or rolled
    back: see ``commit``). Parsed once per change of the file; each invalid entry
    is skipped with one warning naming the manifest and the entry. A folder without a
    manifest ships nothing.

    Raises:
        ManifestError: the manifest cannot be read, is not JSON, has no "models" table, or
            is of a newer format; the message says why.
    """
    folder = folder_or_default(folder)  # None: the package's weights folder
    path = folder / MANIFEST
    settled = recover(folder)
    stamp = _stamp(path)
    with _cache_lock:
        cached = _cache.get(str(path))
        fresh = cached is None or cached[0] != stamp
        if fresh:
            try:
                result: Manifest | ManifestError = _parse_manifest(path)
            except ManifestError as exc:
                result = exc
            _cache[str(path)] = (stamp, result)
        else:
            result = cached[1]
    if settled:
        clean_temporaries(folder)  # a writer killed before its journal: roll back
    if fresh and isinstance(result, Manifest):
        for name, why in result.skipped.items():
            warnings.warn(f"shipped weights manifest {path}: skipping entry {name!r}: {why}", stacklevel=2)
    if isinstance(result, ManifestError):
        raise ManifestError(str(result))
    return result


def read(folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manifest as stored (a copy; bad entries included); an empty one when the folder
    has none.

    Raises:
        ManifestError: the manifest cannot be used at all (see ``load``).
    """
    folder = folder_or_default(folder)  # None: the package's weights folder
    return copy.deepcopy(load(folder).data)


def skipped_reason(manifest: Manifest, name: str) -> str | None:
    """Why ``name``'s entry was skipped, as one line for the user, or None."""
    if name not in manifest.skipped:
        return None
    return f"shipped weights for {name} unavailable: manifest {manifest.path}: entry {name!r}: {manifest.skipped[name]}"


# ------------------------------------------------------------------ the package's weights

# What the pickers, ``zoo list`` and the scoreboard ask, without torch
# (``explorer.models.shipped`` hands these on).


def weights_folder() -> Path:
    """``resources/weights`` of this installation (it may not exist yet)."""
    from explorer.resources import resources_root

    return resources_root() / "weights"


def folder_or_default(folder: str | os.PathLike | None) -> Path:
    """``folder``, or the package's weights folder when None.

    Raises:
        ManifestError: this installation has no resources folder.
    """
    try:
        return Path(folder or weights_folder())
    except FileNotFoundError as exc:
        raise ManifestError(f"shipped weights unavailable: {exc}") from None


def shipped_entry(name: str, folder: str | os.PathLike | None = None) -> ShippedEntry | None:
    """The manifest record of ``name``'s shipped weights, or None when none ship.

    A missing or unusable manifest, or an invalid entry, means "nothing shipped" here, so
    pickers can ask about every model; ``unavailable_reason`` says why, and
    ``explorer.models.shipped.load_shipped`` raises it when someone loads one.
    """
    try:
        return load(folder_or_default(folder)).entries.get(name)
    except ModelError:
        return None


def unavailable_reason(name: str | None = None, folder: str | os.PathLike | None = None) -> str | None:
    """Why shipped weights that should be there are not: the whole manifest is unusable,
    or (given ``name``, a form that ships weights) its entry was skipped. None otherwise."""
    if name is not None and name not in ZOO_EPOCHS:
        return None
    try:
        manifest = load(folder_or_default(folder))
    except ModelError as exc:
        return str(exc)
    return skipped_reason(manifest, name) if name is not None else None


def write(data: Mapping[str, Any], folder: str | os.PathLike | None = None) -> Path:
    """Write the manifest atomically (sorted, indented: it is reviewed in diffs).

    ``zoo train`` changes a weights file and its record together with ``commit``."""
    folder = folder_or_default(folder)  # None: the package's weights folder
    return files.write_atomic(folder / MANIFEST, manifest_text(data), action="write")


def manifest_text(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def commit(name: str, weights: bytes, record: Mapping[str, Any], folder: str | os.PathLike | None = None, *,
           excluded: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Store ``weights`` as ``NAME.pt`` and ``record`` as its manifest entry, together
    (``weights_journal.replace_together``: a kill or a full disk at any step leaves the old
    pair or the new one). ``record``'s "file", "sha256" and "bytes" are set here from
    ``weights``; the manifest's other entries are kept as stored.

    Returns:
        The record as written.

    Raises:
        WriteError: a file could not be written (a full disk names the free space and what
            was needed); the previous weights and manifest are intact, no temporary is left.
        ManifestError: the existing manifest cannot be read (it would be overwritten).
    """
    folder = folder_or_default(folder)  # None: the package's weights folder
    file = f"{name}.pt"
    record = {**record, "file": file, "sha256": hashlib.sha256(weights).hexdigest(), "bytes": len(weights)}
    data = read(folder)
    data["format"] = FORMAT
    data["models"][name] = record
    if excluded is not None:
        data["excluded"] = dict(excluded)
    replace_together(folder, [(file, weights), (MANIFEST, manifest_text(data))])
    return record
