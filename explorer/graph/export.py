"""JSON export of a graph view: nodes with attributes and positions, edges with kinds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from explorer.graph.layout import Layout
from explorer.graph.model_graph import ModelGraph
from explorer.graph.collapse import ViewGraph


def view_document(graph: ModelGraph, view: ViewGraph, layout: Layout) -> dict[str, Any]:
    """One JSON-able object describing what is drawn.

    ``nodes`` are the drawn units (layers, or closed blocks with their member node ids)
    with every attribute the graph knows plus ``x``/``y``/``width``/``height``; ``edges``
    carry ``kind`` (plain, branch, residual, dense, aux), ``shape`` and the route's points.
    """
    nodes = []
    for unit in view.order:
        attrs = dict(view.graph.nodes[unit])
        if attrs.get("unit") == "node":
            full = graph.graph.nodes[unit]
            attrs.update({k: v for k, v in full.items() if k not in attrs})
        x, y = layout.positions[unit]
        w, h = layout.sizes[unit]
        attrs.update(id=unit, x=x, y=y, width=w, height=h)
        nodes.append(attrs)
    edges = [
        {"source": u, "target": v, **a, "points": [list(p) for p in layout.routes.get((u, v), [])]}
        for u, v, a in view.graph.edges(data=True)
    ]
    return {
        "name": graph.name,
        "input_shape": list(graph.input_shape),
        "traced": graph.traced,
        "warning": graph.warning,
        "total_params": graph.total_params,
        "total_flops": graph.total_flops,
        "aux_flops": graph.aux_flops,
        "paper": graph.paper,
        "view": view.state.to_dict(),
        "nodes": nodes,
        "edges": edges,
        "frames": [{"path": p, "label": label, "rect": list(r)} for p, label, r in layout.frames],
    }


def write_json(document: dict[str, Any], path: str | Path) -> Path:
    """Write ``document`` to ``path`` as an export (``exports.write_export``: atomic, never
    into the app's own folders).

    Raises:
        UserError: the path is refused or the file cannot be written; the old file is intact.
    """
    from explorer.exports import write_export

    return write_export(path, json.dumps(document, indent=1))
