"""What a graph unit offers to the knockout lab (no Qt): the specs of the Inception
branch, residual shortcut, dense-layer input groups or auxiliary head it belongs to.

Candidates come from the module hierarchy (block types the graph records) and are kept
only when :func:`~explorer.explain.knockout.parse_knockout` accepts them, so the menu
never offers what the lab would refuse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: reading the graph needs no torch
    from torch import nn

from explorer.explain.knockout_spec import KnockoutError, parse_knockout
from explorer.graph.model_graph import ModelGraph

MAX_GROUPS = 64  # a dense layer's input groups (DenseNet-201's last layer has 49)


def _modules_of(graph: ModelGraph, unit: str) -> list[str]:
    """The module a unit stands for ("m:PATH", a collapsed block) or the modules around a
    node, innermost first."""
    if unit.startswith("m:"):
        path = unit[2:]
        parts = path.split(".")
        return [p for p in (".".join(parts[:i]) for i in range(len(parts), 0, -1)) if p in graph.modules]
    if unit not in graph.graph:
        return []
    return list(reversed(graph.enclosing_modules(unit)))


def _candidates(graph: ModelGraph, path: str) -> list[tuple[str, str]]:
    record = graph.modules[path]
    parent = graph.modules.get(record.parent or "")
    if record.block_type == "aux_head":
        return [(f"Switch off auxiliary head {path}", path)]
    if parent is not None and parent.block_type == "inception":
        return [(f"Switch off branch {path}", path)]
    if record.block_type == "dense_layer":
        return [(f"Switch off input group {g} of {path}", f"{path}:group{g}") for g in range(MAX_GROUPS)]
    if record.kind == "block" and any(graph.node(n).get("category") == "add" for n in record.nodes):
        return [(f"Switch off the shortcut of {path}", f"{path}:shortcut")]
    return []


def knockout_choices(graph: ModelGraph, model: nn.Module, unit: str) -> list[tuple[str, str]]:
    """(menu label, spec) pairs for graph unit ``unit`` (a node id or "m:" + module path)."""
    choices: list[tuple[str, str]] = []
    for path in _modules_of(graph, unit):
        for label, spec in _candidates(graph, path):
            try:
                parse_knockout(spec, graph, model)
            except KnockoutError:
                if ":group" in spec:
                    break  # groups are numbered from 0: the first refused ends them
                continue
            choices.append((label, spec))
    return choices
