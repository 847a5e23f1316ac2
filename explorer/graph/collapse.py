"""What is drawn: a :class:`ModelGraph` seen at some level of the hierarchy.

Over 400 lines because making a view is one pass whose steps (units, folded runs, frames,
block patterns) share its walk of the graph, and saying why nothing folds reuses those runs.

A :class:`ViewState` says which composite modules are open; every node inside a closed
module is drawn as that module (a *block* unit), and runs of identical blocks can fold
into one unit ("×22 Bottleneck"). :func:`make_view` turns graph + state into a small
``networkx`` graph of units, the input of the layout.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import networkx as nx

from explorer.graph.model_graph import BLOCK, CONTAINER, EDGE_PRIORITY, LAYER, ModelGraph
from explorer.graph.titles import module_label

DEFAULT_MIN_RUN = 6


@dataclasses.dataclass(frozen=True)
class ViewState:
    """Which modules are open and whether runs of identical blocks fold.

    Attributes:
        expanded: paths of open composite modules (containers are open by default).
        fold: fold runs of at least ``min_run`` identical consecutive blocks.
        min_run: shortest run that folds.
        unfolded: first-block paths of runs the user opened again.
        direction: how the layout runs, "TB" (top to bottom) or "LR" (left to right).
    """

    expanded: frozenset[str] = frozenset()
    fold: bool = True
    min_run: int = DEFAULT_MIN_RUN
    unfolded: frozenset[str] = frozenset()
    direction: str = "TB"

    def to_dict(self) -> dict[str, Any]:
        return {"expanded": sorted(self.expanded), "fold": self.fold, "min_run": self.min_run,
                "unfolded": sorted(self.unfolded), "direction": self.direction}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViewState:
        return cls(expanded=frozenset(data.get("expanded", ())), fold=bool(data.get("fold", True)),
                   min_run=int(data.get("min_run", DEFAULT_MIN_RUN)),
                   unfolded=frozenset(data.get("unfolded", ())),
                   direction=str(data.get("direction", "TB")))


def default_state(graph: ModelGraph, *, fold: bool = True) -> ViewState:
    """Blocks closed, stages and wrappers open: the issue's "meaningful blocks" view."""
    return ViewState(expanded=frozenset(p for p, m in graph.modules.items() if m.kind == CONTAINER),
                     fold=fold)


def expanded_state(graph: ModelGraph) -> ViewState:
    """Every layer visible."""
    return ViewState(expanded=frozenset(p for p, m in graph.modules.items() if m.kind != LAYER),
                     fold=False)


def expand(state: ViewState, path: str) -> ViewState:
    return dataclasses.replace(state, expanded=state.expanded | {path})


def collapse(graph: ModelGraph, state: ViewState, path: str) -> ViewState:
    """Close ``path`` and the blocks inside it (containers inside stay open for later)."""
    inner = {p for p in state.expanded
             if (p == path or p.startswith(path + ".")) and graph.modules[p].kind == BLOCK}
    return dataclasses.replace(state, expanded=state.expanded - inner - {path})


def unfold(state: ViewState, first_block: str) -> ViewState:
    return dataclasses.replace(state, unfolded=state.unfolded | {first_block})


def module_unit(path: str) -> str:
    return "m:" + path


def fold_unit(first: str) -> str:
    return "fold:" + first


@dataclasses.dataclass
class ViewGraph:
    """Units to draw and the edges between them.

    Attributes:
        graph: ``networkx.DiGraph`` of unit ids; node attributes describe the unit
            (``unit`` = node, block or fold; ``label``; ``summary``; ``category``; ``shape``;
            ``members``...), edge attributes ``kind``, ``shape``, ``count``, ``bundled``.
        unit_of: for every traced node id, the unit drawing it.
        state: the state this view was made from.
        order: unit ids in execution order.
        frames: open blocks and stages drawn as a frame around their units:
            (path, label, unit ids).
    """

    graph: nx.DiGraph
    unit_of: dict[str, str]
    state: ViewState
    order: list[str]
    frames: list[tuple[str, str, list[str]]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.to_dict(),
            "order": self.order,
            "nodes": [dict(self.graph.nodes[u], id=u) for u in self.order],
            "edges": [{"source": u, "target": v, **a} for u, v, a in self.graph.edges(data=True)],
            "frames": [list(f) for f in self.frames],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViewGraph:
        graph = nx.DiGraph()
        unit_of: dict[str, str] = {}
        for attrs in data["nodes"]:
            graph.add_node(attrs["id"], **{k: v for k, v in attrs.items() if k != "id"})
            for member in attrs.get("members", ()):
                unit_of[member] = attrs["id"]
        for e in data["edges"]:
            graph.add_edge(e["source"], e["target"], **{k: v for k, v in e.items()
                                                         if k not in ("source", "target")})
        return cls(graph=graph, unit_of=unit_of, state=ViewState.from_dict(data["state"]),
                   order=list(data["order"]), frames=[(f[0], f[1], list(f[2])) for f in data["frames"]])


def _closed_module_of(graph: ModelGraph, node_id: str, expanded: frozenset[str]) -> str | None:
    path = graph.graph.nodes[node_id].get("module_path", "")
    if not path:
        return None
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        rec = graph.modules.get(prefix)
        if rec is not None and rec.kind != LAYER and prefix not in expanded:
            return prefix
    return None


def make_view(graph: ModelGraph, state: ViewState) -> ViewGraph:
    """Collapse closed modules into units, fold runs, and merge edges between units."""
    unit_of, unit_members, order, edges = _units(graph, state)
    fold_blocks: dict[str, list[str]] = {}
    if state.fold:
        unit_of, unit_members, order, edges, fold_blocks = _fold_runs(
            graph, state, unit_of, unit_members, order, edges)

    view = nx.DiGraph()
    for unit in order:
        view.add_node(unit, **_unit_attrs(graph, unit, unit_members[unit], fold_blocks.get(unit)))
    for (a, b), attrs in edges.items():
        view.add_edge(a, b, **attrs)
    frames = _frames(graph, state, unit_of, order)
    return ViewGraph(graph=view, unit_of=unit_of, state=state, order=order, frames=frames)


def identical_runs(graph: ModelGraph, state: ViewState) -> list[list[str]]:
    """Every run of identical closed blocks one after another at ``state``'s level (block
    paths, in order; a lone block is a run of one), folded or not: what folding works on.

    A run folds when it is at least ``state.min_run`` long; none is when no block is
    closed (every block open, or a model without blocks) or when the longest is shorter.
    """
    _unit_of, _members, order, edges = _units(graph, state)
    return [[unit[2:] for unit in run] for run in _runs(graph, order, edges)]


def why_nothing_folds(graph: ModelGraph, state: ViewState) -> str:
    """Why folding runs changes nothing at ``state``'s level, in a sentence; "" when a run
    folds (or would, were folding on)."""
    runs = identical_runs(graph, state)
    wanted = state.min_run
    if not runs:
        if any(m.kind == BLOCK for m in graph.modules.values()):
            return "Nothing to fold at this level: every block is open (Blocks closes them)"
        return f"Nothing to fold: {graph.name or 'this model'} has no blocks, only layers"
    longest = max(runs, key=len)
    if len(longest) >= wanted:
        return ""
    if len(longest) == 1:
        return f"Nothing to fold: no two identical blocks follow each other (runs of {wanted} or more fold)"
    return (f"Nothing to fold: the longest run of identical blocks is {len(longest)} "
            f"({longest[0]} … {longest[-1]}); runs of {wanted} or more fold")


def _units(graph: ModelGraph, state: ViewState):
    """(unit of each node, members of each unit, units in order, merged edges) of the
    closed modules at ``state``, before any run is folded."""
    g = graph.graph
    unit_of: dict[str, str] = {}
    unit_members: dict[str, list[str]] = {}
    order: list[str] = []
    # the closed module is the same for every node of one module path (MaxViT: 1,633
    # nodes, a third as many paths): found once per path
    closed_of_path: dict[str, str | None] = {}
    for node_id in graph.order:
        path = g.nodes[node_id].get("module_path", "")
        if path in closed_of_path:
            closed = closed_of_path[path]
        else:
            closed = closed_of_path[path] = _closed_module_of(graph, node_id, state.expanded)
        unit = module_unit(closed) if closed is not None else node_id
        unit_of[node_id] = unit
        if unit not in unit_members:
            unit_members[unit] = []
            order.append(unit)
        unit_members[unit].append(node_id)

    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for u, v, attrs in g.edges(data=True):
        a, b = unit_of[u], unit_of[v]
        if a == b:
            continue
        if attrs.get("kind") in ("residual", "branch") and (a != u or b != v):
            # The shortcut or the branches live inside a closed block (its colour and note
            # say so); drawn between blocks they would only suggest a skip that is not there.
            attrs = {**attrs, "kind": "plain"}
        _merge_edge(edges, a, b, attrs)
    return unit_of, unit_members, order, edges


def _merge_edge(edges: dict, a: str, b: str, attrs: dict[str, Any]) -> None:
    kind = attrs.get("kind", "plain")
    bundled = bool(attrs.get("bundled", False))
    existing = edges.get((a, b))
    if existing is None:
        edges[(a, b)] = {"kind": kind, "shape": attrs.get("shape"), "count": 1, "bundled": bundled}
        return
    existing["count"] += 1
    existing["bundled"] = existing["bundled"] and bundled
    if EDGE_PRIORITY[kind] < EDGE_PRIORITY[existing["kind"]]:
        existing["kind"] = kind


def _runs(graph: ModelGraph, order: list[str], edges) -> list[list[str]]:
    """Maximal runs of closed blocks of one signature under one parent, each feeding only
    the next (units, in order; any length)."""
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)

    def signature(unit: str) -> str | None:
        if not unit.startswith("m:"):
            return None
        rec = graph.modules[unit[2:]]
        return f"{rec.parent}|{rec.signature}" if rec.kind == BLOCK and rec.signature else None

    runs: list[list[str]] = []
    current: list[str] = []
    for unit in order:
        sig = signature(unit)
        if (current and sig is not None and sig == signature(current[-1])
                and succ.get(current[-1]) == [unit] and pred.get(unit) == [current[-1]]):
            current.append(unit)
            continue
        if current:
            runs.append(current)
        current = [unit] if sig is not None else []
    if current:
        runs.append(current)
    return runs


def _fold_runs(graph, state, unit_of, unit_members, order, edges):
    runs = [r for r in _runs(graph, order, edges)
            if len(r) >= state.min_run and r[0][2:] not in state.unfolded]
    if not runs:
        return unit_of, unit_members, order, edges, {}
    rename: dict[str, str] = {}
    fold_blocks: dict[str, list[str]] = {}
    for run in runs:
        fid = fold_unit(run[0][2:])
        fold_blocks[fid] = [u[2:] for u in run]
        for unit in run:
            rename[unit] = fid
    new_members: dict[str, list[str]] = {}
    new_order: list[str] = []
    for unit in order:
        target = rename.get(unit, unit)
        if target not in new_members:
            new_members[target] = []
            new_order.append(target)
        new_members[target].extend(unit_members[unit])
    new_unit_of = {n: rename.get(u, u) for n, u in unit_of.items()}
    new_edges: dict[tuple[str, str], dict[str, Any]] = {}
    for (a, b), attrs in edges.items():
        a2, b2 = rename.get(a, a), rename.get(b, b)
        if a2 == b2:
            continue
        if (a2, b2) in new_edges:
            new_edges[(a2, b2)]["count"] += attrs["count"]
        else:
            new_edges[(a2, b2)] = dict(attrs)
    return new_unit_of, new_members, new_order, new_edges, fold_blocks


def _output_node(graph: ModelGraph, members: list[str]) -> str:
    """The member whose value leaves the unit (the last one that feeds outside)."""
    member_set = set(members)
    leaving = [n for n in members if any(s not in member_set for s in graph.graph.successors(n))
               and not graph.graph.nodes[n].get("aux")]
    return leaving[-1] if leaving else members[-1]


def _unit_attrs(graph: ModelGraph, unit: str, members: list[str], blocks: list[str] | None,
                ) -> dict[str, Any]:
    g = graph.graph
    out = g.nodes[_output_node(graph, members)]
    member_attrs = [g.nodes[n] for n in members]  # one lookup each for the three sums
    base = {
        "members": members,
        "shape": out.get("shape"),
        "receptive_field": out.get("receptive_field"),
        "effective_stride": out.get("effective_stride"),
        "rf_offset": out.get("rf_offset"),
        "params": sum(int(a.get("params") or 0) for a in member_attrs),
        "flops": sum(int(a.get("flops") or 0) for a in member_attrs),
        "aux": all(a.get("aux") for a in member_attrs),
    }
    if out.get("rf_note"):
        base["rf_note"] = out["rf_note"]
    if unit.startswith("m:"):
        rec = graph.modules[unit[2:]]
        base.update(unit="block", label=module_label(rec.path), title=rec.path,
                    summary=rec.type.lstrip("_"), category="block", block_type=rec.block_type,
                    layer_type=rec.type, module_path=rec.path, count=1)
        base.update(_block_pattern(graph, rec))
        if rec.paper:
            base["paper"] = rec.paper
        if base["aux"]:
            base["category"] = "block"
        return base
    if unit.startswith("fold:"):
        blocks = blocks or [unit[5:]]
        rec = graph.modules[blocks[0]]
        label, span = f"×{len(blocks)} {rec.type.lstrip('_')}", f"{blocks[0]} … {blocks[-1]}"
        base.update(unit="fold", label=label, title=span, summary=span, category="block",
                    block_type=rec.block_type, layer_type=rec.type, module_path=rec.path,
                    count=len(blocks), blocks=blocks)
        return base
    attrs = g.nodes[unit]
    base.update(unit="node", label=attrs.get("label", unit), title=attrs.get("title", unit),
                summary=attrs.get("summary", ""), category=attrs.get("category", "other"), block_type="",
                layer_type=attrs.get("layer_type", ""), module_path=attrs.get("module_path", ""),
                count=1)
    return base


def _block_pattern(graph: ModelGraph, rec: Any) -> dict[str, Any]:
    """The inner pattern a closed block hides, from its edge kinds, for the block's glyph.

    ``pattern`` is ``residual`` (an add fed by a shortcut; ``shortcut`` says identity or
    projection), ``branches`` (a concatenation of ``branches`` independent branches),
    ``dense`` (``dense_layers`` layers each fed every earlier map, adding ``growth``
    channels each) or ``dense_layer`` (one concatenation of ``dense_inputs`` earlier maps).
    A block with none of these (an inverted residual without shortcut) gets no pattern.
    """
    g = graph.graph
    members = set(rec.nodes)
    has_add = projection = False
    branches = dense_concats = dense_inputs = 0
    for n in rec.nodes:
        category = g.nodes[n].get("category")
        kinds = [a.get("kind") for a in g.pred[n].values()]  # in_edges' order, without its view
        if "residual" in kinds:
            if category == "add":
                has_add = True
            else:  # a layer on the shortcut itself: the 1x1 projection and its norm
                projection = True
        if category == "concat":
            branches = max(branches, kinds.count("branch"))
            if "dense" in kinds:
                dense_concats += 1
                dense_inputs = max(dense_inputs, kinds.count("dense"))
    if has_add:
        return {"pattern": "residual", "shortcut": "projection" if projection else "identity"}
    if branches >= 2:
        return {"pattern": "branches", "branches": branches}
    if not dense_concats:
        return {}
    layers = 0  # the blocks directly inside (through containers such as a ModuleList)
    stack = list(rec.children)
    while stack:
        child = graph.modules[stack.pop()]
        if child.kind == BLOCK:
            layers += 1
        elif child.kind == CONTAINER:
            stack.extend(child.children)
    if not layers:
        return {"pattern": "dense_layer", "dense_inputs": dense_inputs}
    out: dict[str, Any] = {"pattern": "dense", "dense_layers": layers}
    first = rec.nodes[0]
    entry = next((p for p in g.predecessors(first) if p not in members and g.nodes[p].get("shape")),
                 None)
    out_shape = g.nodes[_output_node(graph, rec.nodes)].get("shape")
    if entry is not None and out_shape and len(out_shape) > 1:
        grown = out_shape[1] - g.nodes[entry]["shape"][1]
        if grown > 0 and grown % layers == 0:
            out["growth"] = grown // layers
    return out


def _frames(graph: ModelGraph, state: ViewState, unit_of: dict[str, str], order: list[str],
            ) -> list[tuple[str, str, list[str]]]:
    """Open blocks, and stages holding several blocks, framed around their units."""
    frames = []
    for path in sorted(state.expanded, key=lambda p: (p.count("."), p)):
        rec = graph.modules.get(path)
        if rec is None or not path:
            continue
        units = list(dict.fromkeys(unit_of[n] for n in rec.nodes))
        if len(units) < 2:
            continue
        block_children = sum(1 for c in rec.children if graph.modules[c].kind == BLOCK)
        if rec.kind == BLOCK or block_children >= 2:
            frames.append((path, f"{path} · {rec.type.lstrip('_')}", units))
    return frames
