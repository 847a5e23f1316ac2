"""Finding layers in the graph by name, module path or type (no Qt: plain data in, hits out)."""

from __future__ import annotations

from explorer.graph import ModelGraph, ViewGraph

_NODE_KEYS = ("id", "module_path", "layer_type", "category", "summary")
_UNIT_KEYS = ("label", "layer_type", "block_type")


def find_hits(graph: ModelGraph, view: ViewGraph, text: str) -> list[tuple[str, str]]:
    """``(unit drawn, node id)`` for every node matching ``text``, in execution order.

    A node matches on its id, module path, layer type, category or summary; a drawn unit
    (a closed block, a folded run) also matches on its own label and types, once.
    """
    query = text.strip().lower()
    if not query:
        return []
    hits: list[tuple[str, str]] = []
    seen_units: set[str] = set()
    for node_id in graph.order:
        unit = view.unit_of.get(node_id)
        if unit is None:
            continue
        attrs = graph.graph.nodes[node_id]
        haystack = " ".join(str(attrs.get(k, "")) for k in _NODE_KEYS).lower()
        unit_text = " ".join(str(view.graph.nodes[unit].get(k, "")) for k in _UNIT_KEYS).lower()
        if query in haystack or (unit not in seen_units and query in unit_text):
            hits.append((unit, node_id))
            seen_units.add(unit)
    return hits


def hits_label(query: str, hits: list, index: int) -> str:
    """"2/5", "no match", or nothing when there is no query."""
    if not query.strip():
        return ""
    if not hits:
        return "no match"
    return f"{index + 1 if index >= 0 else 0}/{len(hits)}"
