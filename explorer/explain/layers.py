"""Which module outputs which graph node: what hooks can reach.

Forward hooks see a module's inputs and output; the graph has one node per operation. A
node is reachable by a hook when some module ends there: a layer called once, or a block
whose output it is (a residual block ends at its add or the ReLU after it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: reading the graph needs no torch
    from torch import nn

from explorer.errors import UserError
from explorer.graph.model_graph import ModelGraph


class LayerError(UserError):
    """A layer name that names no module or node, or a node no module ends at."""


def output_node(graph: ModelGraph, members: set[str] | list[str]) -> str | None:
    """The node whose value leaves a set of nodes (the last one with a user outside it)."""
    members = set(members)
    leaving = [n for n in members
               if any(s not in members and not graph.node(s).get("aux") for s in graph.graph.succ[n])]
    if not leaving:
        return None
    index = {n: i for i, n in enumerate(graph.order)}
    return max(leaving, key=index.__getitem__)


def find_module(graph: ModelGraph, name: str) -> str | None:
    """``name`` if it is a module path with traced nodes, else the one module whose path
    ends with ``.name`` (``denseblock1.denselayer3`` for ``features.denseblock1...``)."""
    if name in graph.modules and name:
        return name
    matches = [p for p in graph.modules if p.endswith("." + name)]
    return matches[0] if len(matches) == 1 else None


def module_for_node(graph: ModelGraph, model: nn.Module, name: str) -> tuple[str, str]:
    """The module whose output is node or module ``name``: (module path, node id).

    A module path is taken as given; for a node (its title, ``layer1.0 (add)``, or its id),
    the outermost module that ends there.

    Raises:
        LayerError: ``name`` is neither, or no single module ends at that node.
    """
    path = find_module(graph, name)
    if path is not None:
        node = output_node(graph, graph.modules[path].nodes)
        if node is not None:
            return path, node
    node_id = graph.find_node(name)
    if node_id is None:
        raise LayerError(f"unknown layer {name!r}: give a module path or a node's name as the graph shows it")
    name = node_id
    title = graph.node(name).get("title") or name
    owner = graph.node(name).get("module_path", "")
    parts = owner.split(".")
    enclosing = [p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if p in graph.modules]
    candidates = [m for m in enclosing if output_node(graph, graph.modules[m].nodes) == name]
    if candidates:
        return candidates[0], name
    calls = sum(1 for n in graph.order if graph.node(n).get("op") == "call_module"
                and graph.node(n).get("module_path") == owner)
    if graph.node(name).get("op") == "call_module" and calls == 1 and owner in dict(model.named_modules()):
        return owner, name
    raise LayerError(
        f"no module ends at node {title!r} (it is inside {owner or 'the model'}): pick the "
        "module or block that outputs it"
    )
