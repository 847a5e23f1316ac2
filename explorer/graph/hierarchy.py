"""The module hierarchy of a traced graph: model > stage > block > layer."""

from __future__ import annotations

import re
from collections.abc import Callable

import networkx as nx
from torch import nn

from explorer.graph.model_graph import BLOCK, CONTAINER, LAYER, ModuleRecord

_BLOCK_NAMES = (
    (re.compile(r"aux"), "aux_head"),
    (re.compile(r"inception|mixed"), "inception"),
    (re.compile(r"invertedresidual|inverted|mbconv"), "inverted_residual"),
    (re.compile(r"bottleneck"), "bottleneck"),
    (re.compile(r"basicblock"), "basic_block"),
    (re.compile(r"denselayer"), "dense_layer"),
    (re.compile(r"denseblock|dense"), "dense_block"),
    (re.compile(r"transition"), "transition"),
    (re.compile(r"separable|depthwise|dwsep"), "separable"),
    (re.compile(r"^nin|ninblock|mlpconv"), "nin_block"),
    (re.compile(r"vgg"), "vgg_block"),
    (re.compile(r"fire"), "fire"),
    (re.compile(r"residual|resblock"), "residual"),
    (re.compile(r"block|unit"), "block"),
)
_NOT_BLOCK_NAMES = re.compile(
    r"^(features|classifier|head|stem|body|layers|blocks|stages|net|model|backbone)$")
# A class that says it is a stage is one, whatever it is called (RegNet's AnyStage "block1").
_STAGE_CLASS = re.compile(r"stage")


def _block_type_from_name(class_name: str, short_name: str) -> str:
    lowered = class_name.lower().lstrip("_")
    for pattern, block_type in _BLOCK_NAMES:
        if pattern.search(lowered):
            return block_type
    if _STAGE_CLASS.search(lowered):
        return ""
    # A module *named* like a block (an nn.Sequential called "block3") is a generic block;
    # names such as "depthwise" label parts of a block, not blocks ("blocks", a list of
    # them, is a stage).
    short = short_name.lower()
    if not _NOT_BLOCK_NAMES.match(short) and re.search(r"block|unit", short):
        return "block"
    return ""


def build_hierarchy(graph: nx.DiGraph, order: list[str], model: nn.Module | None,
                    ) -> dict[str, ModuleRecord]:
    """Module records (model > stage > block > layer) from the nodes' module paths.

    A composite module is a *block* when its class or name says so (Bottleneck,
    Inception, _DenseLayer, InvertedResidual...) or when the data flow between its
    children is not a simple chain (a fork or a merge at its own level); otherwise it is
    a *container* (a stage, or a wrapper such as conv-BN-ReLU) and stays open. A module
    without child modules that fx traced into (several nodes of its own) is a block too.
    """
    index = {n: i for i, n in enumerate(order)}
    nodes_attrs = dict(graph.nodes.items())
    # Data-flow predecessors (nodes with a tensor value: shape arithmetic such as
    # x.size(0) is no data flow), looked up once instead of per enclosing module.
    preds = {n: list(graph.pred[n]) for n in order}
    flow_preds = {n: [p for p in preds[n] if nodes_attrs[p].get("shape") is not None]
                  for n in order}
    # Each node's enclosing module paths, outermost first ("a", "a.b", "a.b.c"), made once
    # per distinct module path (MaxViT: 1,633 nodes 6 deep, most sharing their path with
    # others); the parameters of every module's subtree are summed on the same walk.
    path_prefixes: dict[str, list[str]] = {}
    node_prefixes: dict[str, list[str]] = {}
    members: dict[str, list[str]] = {"": []}
    subtree_params: dict[str, int] = {"": 0}
    for node_id in order:
        attrs = nodes_attrs[node_id]
        path = attrs["module_path"]
        prefixes = path_prefixes.get(path)
        if prefixes is None:
            parts = path.split(".") if path else []
            prefixes = path_prefixes[path] = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        node_prefixes[node_id] = prefixes
        node_params = int(attrs.get("params") or 0)
        members[""].append(node_id)
        subtree_params[""] += node_params
        for prefix in prefixes:
            members.setdefault(prefix, []).append(node_id)
            subtree_params[prefix] = subtree_params.get(prefix, 0) + node_params
    children: dict[str, list[str]] = {p: [] for p in members}
    for path in members:
        if path:
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            children.setdefault(parent, []).append(path)
    for path, kids in children.items():
        kids.sort(key=lambda c: index[members[c][0]])
    named = dict(model.named_modules()) if model is not None else {}
    records: dict[str, ModuleRecord] = {}
    for path, nodes in members.items():
        module = named.get(path)
        class_name = type(module).__name__ if module is not None else "Module"
        params = subtree_params[path]
        kids = children.get(path, [])
        if not path:
            kind, block_type = CONTAINER, ""
        elif not kids and _traced_through(nodes_attrs, index, nodes):
            # A layer fx traced into (torchvision's LayerNorm2d: permute, layer_norm,
            # permute) is drawn as one closed unit, as a leaf layer is.
            kind, block_type = BLOCK, _infer_block_type(nodes_attrs, nodes)
        elif not kids:
            kind, block_type = LAYER, ""
        else:
            block_type = _block_type_from_name(class_name, path.rsplit(".", 1)[-1])
            # a module named like a block is one whatever its data flow looks like
            if not block_type and _is_structural(nodes_attrs, flow_preds, node_prefixes, path, nodes,
                                                 kids):
                block_type = _infer_block_type(nodes_attrs, nodes)
            kind = BLOCK if block_type else CONTAINER
        records[path] = ModuleRecord(path=path, type=class_name, kind=kind, block_type=block_type,
                                     children=kids, nodes=list(nodes), params=params)
        if kind == BLOCK:
            records[path].signature = _signature(nodes_attrs, preds, class_name, nodes, params)
    return records


def _unit_of_factory(path: str, kids: list[str], node_prefixes: dict[str, list[str]],
                     ) -> Callable[[str, str], str]:
    """Which child of ``path`` holds a node: the child path is its module path cut one
    level below ``path`` (a dictionary lookup, not a scan of the children), read off the
    node's enclosing paths (``node_prefixes``, outermost first)."""
    kid_set = set(kids)
    level = path.count(".") + 1 if path else 0  # a child of path is prefixes[level]

    def unit(node_id: str, module_path: str) -> str:
        prefixes = node_prefixes[node_id]
        kid = prefixes[level] if len(prefixes) > level else module_path
        return kid if kid in kid_set else node_id
    return unit


def _traced_through(nodes_attrs: dict[str, dict], index: dict[str, int], nodes: list[str]) -> bool:
    """Whether a module without child modules ran as several nodes of its own forward, in
    one stretch (a leaf layer called twice is two calls of one node each, not this)."""
    if len(nodes) < 2 or all(nodes_attrs[n]["op"] == "call_module" for n in nodes):
        return False
    return index[nodes[-1]] - index[nodes[0]] == len(nodes) - 1


def _is_structural(nodes_attrs: dict[str, dict], flow_preds: dict[str, list[str]],
                   node_prefixes: dict[str, list[str]], path: str, nodes: list[str],
                   kids: list[str]) -> bool:
    unit = _unit_of_factory(path, kids, node_prefixes)
    unit_of = {n: unit(n, nodes_attrs[n]["module_path"]) for n in nodes}
    in_sources: dict[str, set[str]] = {}
    out_targets: dict[str, set[str]] = {}
    entry_units: set[str] = set()
    for n in nodes:
        if nodes_attrs[n].get("shape") is None:
            continue  # shape arithmetic (x.size(0)) is no data flow
        u = unit_of[n]
        for p in flow_preds[n]:
            if nodes_attrs[p]["op"] == "get_attr":
                continue  # a parameter (ViT's position embedding) is a weight, not a path
            if p in unit_of:
                if unit_of[p] != u:
                    in_sources.setdefault(u, set()).add(unit_of[p])
                    out_targets.setdefault(unit_of[p], set()).add(u)
            else:
                in_sources.setdefault(u, set()).add("external:" + p)
                entry_units.add(u)
    if len(entry_units) > 1:
        return True
    return any(len(s) > 1 for s in in_sources.values()) or any(len(t) > 1 for t in out_targets.values())


def _infer_block_type(nodes_attrs: dict[str, dict], nodes: list[str]) -> str:
    categories = {nodes_attrs[n]["category"] for n in nodes}
    if "add" in categories:
        return "residual"
    if "concat" in categories:
        return "branch"
    return "block"


def _signature(nodes_attrs: dict[str, dict], preds: dict[str, list[str]], class_name: str,
               nodes: list[str], params: int) -> str:
    node_set = set(nodes)
    in_shapes = sorted({str(nodes_attrs[p]["shape"]) for n in nodes for p in preds[n]
                        if p not in node_set})
    out_shape = nodes_attrs[nodes[-1]]["shape"]
    return f"{class_name}|{','.join(in_shapes)}|{out_shape}|{params}|{len(nodes)}"

