"""Finding layers in the graph by name, module path or type (no Qt: plain data in, hits out)."""

from __future__ import annotations

from explorer.graph import ModelGraph, ViewGraph

# The title is the node's one shown name (graph/titles.py); the internal id is not searched:
# nothing shows it. Keys are matched one by one, never across two of them.
_NODE_KEYS = ("title", "module_path", "label", "layer_type", "category", "summary")
_UNIT_KEYS = ("title", "label", "layer_type", "block_type")


def find_hits(graph: ModelGraph, view: ViewGraph, text: str) -> list[tuple[str, str]]:
    """``(unit drawn, node id)`` for every node matching ``text``, in execution order.

    A node matches on its title (``layer2.0.downsample.1``, ``layer2.0 (add)``), module
    path, label, layer type, category or summary; a drawn unit (a closed block, a folded
    run) also matches on its own title, label and types, once.
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
        unit_attrs = view.graph.nodes[unit]
        if _matches(attrs, _NODE_KEYS, query) or (unit not in seen_units
                                                   and _matches(unit_attrs, _UNIT_KEYS, query)):
            hits.append((unit, node_id))
            seen_units.add(unit)
    return hits


def _matches(attrs: dict, keys: tuple[str, ...], query: str) -> bool:
    return any(query in str(attrs.get(k) or "").lower() for k in keys)


def hits_label(query: str, hits: list, index: int) -> str:
    """"2/5", "no match", or nothing when there is no query."""
    if not query.strip():
        return ""
    if not hits:
        return "no match"
    return f"{index + 1 if index >= 0 else 0}/{len(hits)}"
