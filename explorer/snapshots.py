"""What the window and the CLI show before torch is loaded: snapshots of the registry and of
the zoo's graphs, shipped in ``resources/snapshots/`` and checked against the code.

``cnn-explorer snapshots`` writes them from the live registry and tracer
(``explorer/commands/snapshots.py``); a test compares them with the live ones field by
field, so they cannot drift unnoticed. At run time a snapshot is used only when its key
matches this installation: the package version, the installed torch and torchvision
versions (read from their metadata, not by importing them) and a digest of the sources
that decide the facts (the architectures, the registry, the counting and the tracer). Anything else (missing,
damaged, another version, edited model code) is not used: the caller computes the live
value instead, and a graph computed so is cached on disk under the same key.

Standard library only: importing this module imports neither torch nor networkx.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from explorer import __version__
from explorer.files import read_regular, write_atomic
from explorer.resources import resources_root
from explorer.settings import cache_dir

FORMAT = "cnn-explorer-snapshot"
CATALOG_FILE = "snapshots/catalog.json.gz"
GRAPHS_FOLDER = "snapshots/graphs"
_PACKAGE = Path(__file__).resolve().parent
# The sources whose code decides a model's facts and its graph (not how a graph is laid
# out, served or exported: those work on the snapshot).
SOURCES = ("models/architectures/**/*.py", "models/_api.py", "models/stats.py", "models/paper.py", "graph/*.py")
_NOT_SOURCES = {"graph/collapse.py", "graph/layout.py", "graph/service.py", "graph/export.py", "graph/__init__.py",
                "graph/stored.py"}
# Compressed snapshots are tens of kilobytes; a graph of DenseNet-201 unpacks to ~1 MB.
_LIMIT = 64 * 1024 * 1024


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution`` as snapshot keys hold it (local build tag
    dropped; "absent" when not installed), read from its metadata, not by importing it."""
    try:
        return metadata.version(distribution).split("+")[0]
    except metadata.PackageNotFoundError:
        return "absent"


@functools.cache
def current_key() -> dict[str, str]:
    """The key a snapshot must carry to be used by this installation."""
    digest = hashlib.sha256()
    sources = [
        p
        for pattern in SOURCES
        for p in sorted(_PACKAGE.glob(pattern))
        if p.relative_to(_PACKAGE).as_posix() not in _NOT_SOURCES
    ]
    for path in sources:
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes().replace(b"\r\n", b"\n"))
    return {
        "version": __version__,
        "torch": installed_version("torch"),
        "torchvision": installed_version("torchvision"),
        # A frozen bundle ships bytecode only: its snapshots were made with its sources.
        "source": digest.hexdigest()[:16] if sources else "bundled",
    }


def stale_reason(key: Any) -> str | None:
    """Why a snapshot with ``key`` may not be used here (None: it may)."""
    if not isinstance(key, dict):
        return "it has no key"
    here = current_key()
    for field in ("version", "torch", "torchvision", "source"):
        if here[field] == "bundled" and field == "source":
            continue
        if key.get(field) != here[field]:
            what = "the model code changed" if field == "source" else f"made with {field} {key.get(field)}, this is {here[field]}"
            return f"stale ({what})"
    return None


def read_document(path: Path) -> dict[str, Any]:
    """A gzipped JSON snapshot.

    Raises:
        OSError: it cannot be read.
        ValueError: damaged, not a snapshot, or made for another installation (the message
            says which).
    """
    raw = read_regular(path, _LIMIT)
    try:
        document = json.loads(gzip.decompress(raw).decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError, RecursionError, ValueError):
        raise ValueError("damaged (not a whole compressed JSON file)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError("not a cnn-explorer snapshot")
    reason = stale_reason(document.get("key"))
    if reason:
        raise ValueError(reason)
    return document


def write_document(path: Path, kind: str, body: dict[str, Any]) -> Path:
    """Write ``body`` as a gzipped snapshot of ``kind`` under the current key (atomically)."""
    document = {"format": FORMAT, "kind": kind, "key": current_key(), **body}
    text = json.dumps(document, separators=(",", ":"))
    # mtime=0: the same snapshot is the same bytes, so a regenerated file shows no diff.
    return write_atomic(path, gzip.compress(text.encode("utf-8"), mtime=0))


# ---- the registry ---------------------------------------------------------------------


class Catalog:
    """Every registered model's facts and counts, read from the snapshot.

    ``entries`` maps a name to a plain dict with the ``ModelInfo`` fields (without the
    builder), its builder ``options``, ``input_shape``, the measured ``params``, ``flops``,
    ``macs`` and the per-layer ``summary`` that ``cnn-explorer summary`` prints.
    """

    def __init__(self, entries: dict[str, dict[str, Any]]) -> None:
        self.entries = entries

    def names(self, form: str | None = None, family: str | None = None) -> list[str]:
        return [
            name
            for name, e in self.entries.items()
            if (form is None or e["form"] == form) and (family is None or e["family"] == family)
        ]

    def families(self) -> list[str]:
        return list(dict.fromkeys(e["family"] for e in self.entries.values()))

    def get(self, name: str) -> dict[str, Any] | None:
        return self.entries.get(name)


def catalog_path(root: Path | None = None) -> Path:
    return (root or resources_root()) / CATALOG_FILE


def load_catalog(path: Path | None = None) -> tuple[Catalog | None, str | None]:
    """The shipped registry snapshot, or None and why it cannot be used (one line)."""
    if environ_disabled():
        return None, "snapshots are switched off (CNN_EXPLORER_NO_SNAPSHOTS)"
    try:
        path = path or catalog_path()
        document = read_document(path)
        models = document["models"]
        if not isinstance(models, list) or not all(isinstance(m, dict) and isinstance(m.get("name"), str) for m in models):
            raise ValueError("damaged (no model list)")
    except FileNotFoundError:
        return None, "the registry snapshot is missing"
    except (OSError, ValueError, KeyError) as exc:
        return None, f"the registry snapshot is {exc}" if isinstance(exc, ValueError) else f"cannot read the registry snapshot ({exc})"
    return Catalog({m["name"]: m for m in models}), None


def usable_catalog() -> Catalog | None:
    """The registry as the commands and the scoreboard read it: the shipped snapshot when it
    is current (no torch import), else None after a warning saying why (unless snapshots
    are switched off): the caller then measures the live registry."""
    catalog, why = load_catalog()
    if catalog is not None:
        return catalog
    if why and not environ_disabled():
        warnings.warn(f"{why}; measuring the models live", stacklevel=3)
    return None


# ---- graphs ---------------------------------------------------------------------------


def graph_file_name(name: str, builder_kwargs: dict[str, Any] | None) -> str:
    """The file a graph of ``name`` built with ``builder_kwargs`` is kept in."""
    kwargs = json.dumps(builder_kwargs or {}, sort_keys=True)
    if kwargs == "{}":
        return f"{name}.json.gz"
    return f"{name}-{hashlib.sha256(kwargs.encode()).hexdigest()[:12]}.json.gz"


def graph_cache_folder() -> Path:
    return cache_dir() / "graphs"


def shipped_graphs_folder(root: Path | None = None) -> Path:
    return (root or resources_root()) / GRAPHS_FOLDER


def read_graph(name: str, builder_kwargs: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """A graph document (``ModelGraph.to_dict()``) for ``name`` with ``builder_kwargs``: the
    shipped snapshot, else the on-disk cache.

    Returns:
        (document, None) when one may be used; (None, reason) when one exists but is
        stale or damaged (the caller traces and says so); (None, None) when there is none.
    """
    if environ_disabled():
        return None, None
    file_name = graph_file_name(name, builder_kwargs)
    reasons = []
    folders = [graph_cache_folder()]
    if not builder_kwargs:
        try:
            folders.insert(0, shipped_graphs_folder())
        except FileNotFoundError:
            pass
    for folder in folders:
        path = folder / file_name
        try:
            document = read_document(path)
            graph = document["graph"]
            if not isinstance(graph, dict) or graph.get("name") != name or document.get("builder_kwargs") != (builder_kwargs or {}):
                raise ValueError("damaged (holds another graph)")
            return graph, None
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError) as exc:
            reasons.append(f"{path.name}: {exc}")
    return None, ("; ".join(reasons) or None)


def write_graph(folder: Path, name: str, builder_kwargs: dict[str, Any] | None, graph: dict[str, Any]) -> Path:
    """Keep ``graph`` (``ModelGraph.to_dict()``) as the snapshot of ``name`` with ``builder_kwargs``."""
    path = folder / graph_file_name(name, builder_kwargs)
    return write_document(path, "graph", {"builder_kwargs": builder_kwargs or {}, "graph": graph})


def environ_disabled() -> bool:
    """``CNN_EXPLORER_NO_SNAPSHOTS=1`` computes everything live (benchmarks' baseline)."""
    return os.environ.get("CNN_EXPLORER_NO_SNAPSHOTS", "") not in ("", "0")
