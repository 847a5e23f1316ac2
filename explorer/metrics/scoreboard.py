"""The zoo scoreboard's data: accuracy against compute, bubble size = parameters.

Two panels, never mixed on one accuracy axis:

- ``reference``: ImageNet-1K top-1 of every classification model torchvision publishes,
  from the weights metadata that ships inside the torchvision package (works offline;
  it is torchvision's figure, labelled so). Compute is torchvision's ``_ops`` figure, in
  GFLOPs as torchvision and the papers count them: one multiply-add is one operation,
  which this app calls a MAC (``cnn-explorer models`` shows FLOPs = 2 x MACs). The table
  ships as data (``resources/snapshots/torchvision_scoreboard.json``, written by
  ``cnn-explorer snapshots`` and checked against torchvision by a test), read without
  importing torch; made with another torchvision version, it is read live instead, with
  a one-line warning.
- ``small``: Fashion-MNIST test accuracy of the small forms: the shipped weights (the
  manifest, ``explorer.models.manifest``) and each of the user's runs with a finished
  epoch, marked by ``source`` (``shipped`` or ``run``). Compute is this app's own MAC
  count of the registered form at its default width, from the registry snapshot
  (``explorer.snapshots``; the live registry when that cannot be used).

Importing this module, and reading the scoreboard from current snapshots, imports no torch.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from explorer.errors import UserError
from explorer.files import read_regular, write_atomic
from explorer.json_output import finite_json
from explorer.models import manifest
from explorer.resources import resources_root
from explorer.snapshots import environ_disabled, installed_version, usable_catalog
from explorer.train.history import RunHistory
from explorer.train.records import TEST_ACC
from explorer.train.runs import run_status

REFERENCE_SOURCE = "torchvision weights metadata (ImageNet-1K top-1, torchvision's figure)"
REFERENCE_TABLE = "snapshots/torchvision_scoreboard.json"
REFERENCE_FORMAT = "cnn-explorer-torchvision-scoreboard"
# Each point's fields and their types, as stored (a non-finite number is stored as null).
_FIELDS = {"name": str, "weights": str, "top1": float, "top5": float, "gmacs": float, "params": int, "source": str}
_TABLE_LIMIT = 4 * 1024 * 1024  # the table is about 15 kB


def reference_table_path(root: Path | None = None) -> Path:
    """Where the shipped torchvision table is (``root``: a resources folder; default the
    package's)."""
    if root is None:
        root = resources_root()
    return root / REFERENCE_TABLE


def write_reference_table(path: Path, points: list[dict[str, Any]] | None = None) -> Path:
    """Write the torchvision table (default: read live now) with the installed torchvision
    version, atomically (``cnn-explorer snapshots``)."""
    head = {"format": REFERENCE_FORMAT, "torchvision": installed_version("torchvision"), "source": REFERENCE_SOURCE}
    points = finite_json(points if points is not None else live_reference_points())
    # One point a line: a new torchvision's changes read as a short diff.
    text = json.dumps(head, indent=1)[:-2] + ',\n "points": [\n' + ",\n".join(
        "  " + json.dumps(p) for p in points) + "\n ]\n}\n"
    return write_atomic(path, text.encode("utf-8"))


def _point(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != set(_FIELDS):
        raise ValueError("damaged (a point without the expected fields)")
    point = {}
    for field, kind in _FIELDS.items():
        item = value[field]
        if kind is float and item is None:
            item = float("nan")
        elif kind is float and isinstance(item, int) and not isinstance(item, bool):
            item = float(item)
        if not isinstance(item, kind) or isinstance(item, bool):
            raise ValueError(f"damaged ({field} of a point is not {kind.__name__})")
        point[field] = item
    return point


def load_reference_table(path: Path | None = None) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The shipped torchvision table's points, or None and why it cannot be used (one line):
    missing, damaged, switched off, or made with another torchvision version than the one
    installed (read from its metadata: torchvision is not imported)."""
    if environ_disabled():
        return None, "snapshots are switched off (CNN_EXPLORER_NO_SNAPSHOTS)"
    try:
        path = path or reference_table_path()
        raw = read_regular(path, _TABLE_LIMIT)  # ValueError: not a regular file, too large
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, RecursionError, ValueError):
            raise ValueError("damaged (not a whole JSON file)") from None
        if not isinstance(document, dict) or document.get("format") != REFERENCE_FORMAT:
            raise ValueError("damaged (not a torchvision scoreboard table)")
        here = installed_version("torchvision")
        if document.get("torchvision") != here:
            raise ValueError(f"stale (made with torchvision {document.get('torchvision')}, this is {here})")
        if not isinstance(document.get("points"), list):
            raise ValueError("damaged (no point list)")
        points = [_point(p) for p in document["points"]]
    except FileNotFoundError:
        return None, "the torchvision scoreboard table is missing"
    except ValueError as exc:
        return None, f"the torchvision scoreboard table is {exc}"
    except OSError as exc:
        return None, f"cannot read the torchvision scoreboard table ({exc})"
    return points, None


def reference_points() -> list[dict[str, Any]]:
    """One point per torchvision classification model, with its DEFAULT weights' figures:
    the shipped table when it is current (no torch import), else read live from
    torchvision (a warning says why, unless snapshots are switched off)."""
    points, why = load_reference_table()
    if points is not None:
        return points
    if why and not environ_disabled():
        warnings.warn(f"{why}; reading torchvision's weights metadata live", stacklevel=2)
    return live_reference_points()


def live_reference_points() -> list[dict[str, Any]]:
    """``reference_points`` read from torchvision's weights metadata now (imports torch)."""
    import torchvision
    from torchvision.models import get_model_weights, list_models

    points = []
    for name in list_models(module=torchvision.models):
        weights = get_model_weights(name).DEFAULT
        meta = weights.meta
        metrics = meta.get("_metrics", {}).get("ImageNet-1K", {})
        if "acc@1" not in metrics:
            continue
        points.append({
            "name": name,
            "weights": str(weights).split(".", 1)[-1],
            "top1": metrics["acc@1"] / 100,
            "top5": metrics.get("acc@5", float("nan")) / 100,
            "gmacs": float(meta.get("_ops", float("nan"))),
            "params": int(meta.get("num_params", 0)),
            "source": "torchvision",
        })
    return points


def _shipped_accuracy(name: str) -> float | None:
    entry = manifest.shipped_entry(name)
    accuracy = getattr(entry, "test_accuracy", None) if entry is not None else None
    return float(accuracy) if isinstance(accuracy, (int, float)) else None


def small_points(history=None) -> list[dict[str, Any]]:
    """Shipped small forms and the user's runs (``history``: a RunHistory; default the
    app's own run folder)."""

    # The registry snapshot's counts (no torch); the live registry when it cannot be used.
    catalog = usable_catalog()
    stats: dict[str, dict[str, Any]] = {}

    def facts(name: str) -> dict[str, Any] | None:
        if name not in stats:
            if catalog is not None:
                entry = catalog.get(name)
                stats[name] = entry["stats"] if entry is not None else None
                return stats[name]
            from explorer.models import model_stats

            try:
                stats[name] = model_stats(name)
            except UserError:
                # A run of a model this version no longer registers (or a test's own
                # module): there is nothing to measure its compute on, so it gets no point.
                stats[name] = None
        return stats[name]

    if catalog is not None:
        small_forms = catalog.names(form="small")
    else:
        from explorer.models import list_models

        small_forms = list_models(form="small")
    points = []
    # Bad manifest entries warn as the manifest is read; an unusable one warns here, and
    # the runs' points are shown all the same.
    why = manifest.unavailable_reason()
    if why is not None:
        warnings.warn(why, stacklevel=2)
    for name in small_forms:
        accuracy = _shipped_accuracy(name)
        s = facts(name)
        if accuracy is not None and s is not None:
            points.append({"name": name, TEST_ACC: accuracy, "gmacs": s["macs"] / 1e9, "params": s["params"],
                           "source": "shipped"})
    history = history if history is not None else RunHistory()
    for record in history.list_runs():
        accuracy = record.final.test_acc
        s = facts(record.model)
        if accuracy is None or s is None:
            continue
        points.append({
            "name": record.model,
            "run_id": record.run_id,
            "run_name": record.name,
            "status": run_status(record),
            TEST_ACC: float(accuracy),
            "gmacs": s["macs"] / 1e9,
            "params": s["params"],
            "width_mult": record.config.get("width_mult"),
            "source": "run",
        })
    return points


def scoreboard(history=None) -> dict[str, Any]:
    """Both panels with their axis labels."""
    return {
        "reference": {"label": REFERENCE_SOURCE, "x": "GMACs", "y": "ImageNet-1K top-1", "points": reference_points()},
        "small": {"label": "Fashion-MNIST test accuracy (shipped weights and your runs)", "x": "GMACs",
                  "y": "test accuracy", "points": small_points(history)},
    }
