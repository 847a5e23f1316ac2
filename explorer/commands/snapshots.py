"""`cnn-explorer snapshots`: write the registry and graph snapshots the window and the CLI
read before torch is loaded (``explorer/snapshots.py``) and torchvision's scoreboard table
(``explorer.metrics.scoreboard``), or check them (``--check``).

Run it after changing an architecture, the registry or the tracer; the test suite fails
until the shipped snapshots equal the live ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from explorer import snapshots
from explorer.graph import build_named_graph
from explorer.json_output import finite_json
from explorer.metrics import scoreboard
from explorer.models import (
    count_parameters,
    get_model_info,
    layer_summary,
    list_models,
    meta_model,
    model_stats,
    small_form_of,
)
from explorer.models.paper import PAPER_TOTALS
from explorer.resources import resources_root

_NOT_FACTS = {"builder"}


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "snapshots",
        help="write the registry and graph snapshots shipped in resources/snapshots",
        description="Measure every registered model (facts, parameters, FLOPs, per-layer "
        "summary) and trace its graph with the default builder options, read torchvision's "
        "ImageNet figures for the scoreboard, and write them as the snapshots the window and "
        "the CLI read before torch is loaded.",
    )
    p.add_argument("--check", action="store_true", help="only say which snapshots differ from the live ones (exit 1 if any)")
    p.add_argument("--root", metavar="DIR", help="resources folder to write into (default: the package's)")
    p.set_defaults(run=run)


def summary_of(name: str, stats: dict[str, Any]) -> dict[str, Any]:
    """What ``cnn-explorer summary NAME --json`` prints, measured live (the totals are
    ``stats``'s, from ``model_stats``: counted once)."""
    info = get_model_info(name)
    model = meta_model(name)
    rows = layer_summary(model, info.input_shape)
    return {
        "layers": [
            {"path": r.path, "type": r.type, "output_shape": r.output_shape, "params": r.params, "flops": r.flops}
            for r in rows
        ],
        "total_params": count_parameters(model, trainable_only=False),
        "trainable_params": stats["params"],
        "total_flops": stats["flops"],
    }


def catalog_entry(name: str) -> dict[str, Any]:
    """One model's facts as the registry snapshot keeps them (plain JSON values)."""
    info = get_model_info(name)
    facts = {f.name: getattr(info, f.name) for f in dataclasses.fields(info) if f.name not in _NOT_FACTS}
    paper = PAPER_TOTALS.get(name)
    stats = model_stats(name)
    entry = {
        **facts,
        "input_size": list(info.input_size),
        "input_shape": list(info.input_shape),
        "options": list(info.options),
        "small_form": small_form_of(name),
        "paper_totals": paper.to_dict() if paper is not None else None,
        "stats": stats,
        "summary": summary_of(name, stats),
    }
    # Through JSON once, so the live entry compares equal to one read back from the file.
    return json.loads(json.dumps(entry))


def live_catalog() -> list[dict[str, Any]]:
    return [catalog_entry(name) for name in list_models()]


def live_graph(name: str) -> dict[str, Any]:
    return json.loads(json.dumps(build_named_graph(name, {}).to_dict()))


def run(args: argparse.Namespace) -> int:
    root = Path(args.root) if args.root else resources_root()
    catalog = live_catalog()
    names = [entry["name"] for entry in catalog]
    graphs_folder = snapshots.shipped_graphs_folder(root)
    if args.check:
        differing = []
        shipped, why = snapshots.load_catalog(snapshots.catalog_path(root))
        if shipped is None or [shipped.entries.get(n) for n in names] != catalog or len(shipped.entries) != len(names):
            differing.append(f"registry ({why or 'differs'})")
        for name in names:
            try:
                document = snapshots.read_document(graphs_folder / snapshots.graph_file_name(name, {}))
                same = document.get("graph") == live_graph(name)
            except (OSError, ValueError) as exc:
                same, name = False, f"{name} ({exc})"
            if not same:
                differing.append(f"graph of {name}")
        table, why = scoreboard.load_reference_table(scoreboard.reference_table_path(root))
        if table is None or finite_json(table) != finite_json(scoreboard.live_reference_points()):
            differing.append(f"torchvision scoreboard table ({why or 'differs'})")
        for line in differing:
            print(f"stale: {line}", file=sys.stderr)
        total = len(names) + 2
        print(f"{total - len(differing)} of {total} snapshots match the live registry, tracer and torchvision")
        return 1 if differing else 0
    snapshots.write_document(snapshots.catalog_path(root), "registry", {"models": catalog})
    scoreboard.write_reference_table(scoreboard.reference_table_path(root))
    for old in graphs_folder.glob("*.json.gz") if graphs_folder.is_dir() else []:
        if old.name.split(".")[0] not in names:
            old.unlink()
    for name in names:
        snapshots.write_graph(graphs_folder, name, {}, live_graph(name))
    print(f"wrote the registry snapshot ({len(names)} models), {len(names)} graph snapshots and torchvision's "
          f"scoreboard table under {root / 'snapshots'}")
    return 0
