"""Where knockouts show on the architecture graph (no torch, no Qt).

A :class:`~explorer.explain.knockout_spec.Knockout` names a module; the graph view draws
units (layers, closed blocks, folded runs of blocks) and the edges between them.
:func:`knockout_parts` says which traced nodes and edges one knockout switches off, and
:func:`view_marks` how one view shows them all: units struck through, edges that carry
nothing any more, a badge ("c5 off", "group 2 off", "1 knockout" on a closed block that
hides one) and the part of a closed block's glyph that is off (its skip arc, one branch).

Reading the graph is all this does: the specs are parsed (against the loaded module) by
:func:`~explorer.explain.knockout_spec.parse_knockout`, which stays the one reader of the
spec grammar; the view's colours and strokes are the UI's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from explorer.explain.knockout_spec import Knockout
from explorer.explain.layers import find_module, output_node
from explorer.graph.collapse import ViewGraph
from explorer.graph.model_graph import ModelGraph

#: A glyph part: the skip arc (identity or 1×1 projection) of a closed residual block.
SHORTCUT = "shortcut"

#: How a view edge shows a knockout: ``cut`` is itself switched off (an identity shortcut,
#: a dense layer's input group), ``idle`` carries nothing because it leads into or out of a
#: switched-off part (a branch, a projection shortcut, an auxiliary head).
CUT, IDLE = "cut", "idle"


@dataclasses.dataclass(frozen=True)
class KnockoutParts:
    """What one knockout switches off, in the traced graph's node ids.

    Attributes:
        knockout: the parsed knockout.
        nodes: nodes switched off whole (a branch, a projection shortcut, an aux head).
        edges: (source, target) edges switched off themselves (the identity shortcut's
            skip into the block's sum, a dense layer's input group into its concatenation).
        badge_node: the node a badge names the knockout on (a channel: its layer's output;
            a dense group: the dense layer's concatenation), else None.
        badge: that badge's text ("c5 off", "group 2 off"), else "".
        owner: the module whose own closed block carries the badge (the dense layer).
        block: the closed block whose glyph shows the knockout: the residual block of a
            shortcut, the Inception block of a branch; else None.
        position: a branch's place among its block's concatenated inputs (from 0).
    """

    knockout: Knockout
    nodes: frozenset[str] = frozenset()
    edges: frozenset[tuple[str, str]] = frozenset()
    badge_node: str | None = None
    badge: str = ""
    owner: str | None = None
    block: str | None = None
    position: int | None = None


@dataclasses.dataclass(frozen=True)
class ViewMarks:
    """How one view of the graph shows a list of knockouts.

    Attributes:
        struck: units drawn struck through (every layer they draw is switched off).
        edges: view edge (source unit, target unit) -> :data:`CUT` or :data:`IDLE`.
        badges: unit -> badge text.
        glyph_off: closed-block unit -> the parts of its glyph that are off
            (:data:`SHORTCUT`, or a branch's position).
        notes: unit -> the knockouts it shows, in words ("identity shortcut of layer1.0"),
            for its tooltip.
    """

    struck: frozenset[str] = frozenset()
    edges: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    badges: dict[str, str] = dataclasses.field(default_factory=dict)
    glyph_off: dict[str, frozenset] = dataclasses.field(default_factory=dict)
    notes: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.struck or self.edges or self.badges or self.glyph_off)


def count_text(count: int) -> str:
    """"1 knockout", "2 knockouts"."""
    return f"{count} knockout" if count == 1 else f"{count} knockouts"


def _members(graph: ModelGraph, path: str) -> list[str]:
    record = graph.modules.get(path)
    return list(record.nodes) if record is not None else []


def _channel_node(graph: ModelGraph, module: str) -> str | None:
    members = _members(graph, module)
    if members:
        return output_node(graph, members) or members[-1]
    # a layer the trace recorded without a module record: its one call
    calls = [n for n in graph.order if graph.node(n).get("module_path") == module
             and graph.node(n).get("op") == "call_module"]
    return calls[0] if len(calls) == 1 else None


def knockout_parts(knockout: Knockout, graph: ModelGraph) -> KnockoutParts:
    """The nodes and edges of ``graph`` that ``knockout`` switches off (see
    :class:`KnockoutParts`); empty parts where the graph does not hold its module."""
    k = knockout
    if k.kind == "channel":
        node = _channel_node(graph, k.module)
        return KnockoutParts(k, badge_node=node, badge=f"c{k.index} off" if node else "",
                             owner=k.module)
    members = _members(graph, k.module)
    if k.kind == "dense_group":
        cats = [n for n in graph.order if n in set(members) and graph.node(n).get("category") == "concat"]
        if not cats:
            return KnockoutParts(k)
        groups = [p for p in graph.graph.pred[cats[0]] if p not in set(members)]
        edge = {(groups[k.index], cats[0])} if k.index is not None and k.index < len(groups) else set()
        return KnockoutParts(k, edges=frozenset(edge), badge_node=cats[0],
                             badge=f"group {k.index} off", owner=k.module)
    if k.kind == "shortcut" and k.block is not None:  # identity: the block's input added
        inside = set(_members(graph, k.block))
        adds = [n for n in graph.order if n in inside and graph.node(n).get("category") == "add"]
        edges = {(p, adds[-1]) for p in graph.graph.pred[adds[-1]] if p not in inside} if adds else set()
        return KnockoutParts(k, edges=frozenset(edges), block=k.block)
    if k.kind == "shortcut":  # a projection: its layers are off
        block = find_module(graph, k.spec.partition(":")[0])
        return KnockoutParts(k, nodes=frozenset(members), block=block)
    if k.kind == "branch":
        block = position = None
        out = output_node(graph, members) if members else None
        cat = next((s for s in graph.graph.succ[out] if graph.node(s).get("category") == "concat"),
                   None) if out is not None else None
        if cat is not None:
            position = list(graph.graph.pred[cat]).index(out)
            path = k.module
            while "." in path and block is None:
                path = path.rsplit(".", 1)[0]
                if cat in set(_members(graph, path)):
                    block = path
        return KnockoutParts(k, nodes=frozenset(members), block=block, position=position)
    return KnockoutParts(k, nodes=frozenset(members))  # aux_head


def _own_badge(parts: list[KnockoutParts]) -> str:
    """One unit's badges in one: "c5 off", "2 channels off", "groups 1, 2 off"."""
    if len(parts) == 1:
        return parts[0].badge
    kinds = {p.knockout.kind for p in parts}
    if kinds == {"channel"}:
        return f"{len(parts)} channels off"
    if kinds == {"dense_group"}:
        return f"groups {', '.join(str(p.knockout.index) for p in parts)} off"
    return count_text(len(parts))


def view_marks(knockouts: Iterable[Knockout | KnockoutParts], graph: ModelGraph,
               view: ViewGraph) -> ViewMarks:
    """How ``view`` (a view of ``graph``) shows ``knockouts``.

    A unit is struck through when every layer it draws is off; an edge between units is
    :data:`CUT` or :data:`IDLE` when every traced edge it stands for is; a knockout that
    neither shows is counted on the unit hiding it ("1 knockout" on a closed block), or
    named on its own unit ("c5 off"). A closed block's glyph marks its cut shortcut or
    branch.
    """
    parts = [k if isinstance(k, KnockoutParts) else knockout_parts(k, graph) for k in knockouts]
    if not parts:
        return ViewMarks()
    off = set().union(*(p.nodes for p in parts))
    cut = set().union(*(p.edges for p in parts))
    unit_of = view.unit_of
    # Every traced edge between two units, by the view edge drawing it: off when all are.
    states: dict[tuple[str, str], set[str]] = {}
    for u, v in graph.graph.edges():
        a, b = unit_of.get(u), unit_of.get(v)
        if a is None or b is None or a == b:
            continue
        state = CUT if (u, v) in cut else IDLE if (u in off or v in off) else ""
        states.setdefault((a, b), set()).add(state)
    edges = {e: (CUT if CUT in s else IDLE) for e, s in states.items() if "" not in s}
    struck = {unit for unit in view.order
              if (members := view.graph.nodes[unit].get("members")) and off.issuperset(members)}
    own: dict[str, list[KnockoutParts]] = {}
    hidden: dict[str, list[KnockoutParts]] = {}
    glyph_off: dict[str, set] = {}
    for p in parts:
        places: set[str] = {unit_of[n] for n in p.nodes if n in unit_of} - struck
        for u, v in p.edges:
            a, b = unit_of.get(u), unit_of.get(v)
            if b is not None and (a == b or (a, b) not in edges):
                places.add(b)
        if p.badge_node in unit_of:
            unit = unit_of[p.badge_node]
            attrs = view.graph.nodes[unit]
            if attrs.get("unit") == "node" or unit == f"m:{p.owner}":
                own.setdefault(unit, []).append(p)
                places.discard(unit)
            else:
                places.add(unit)
        for unit in places:
            hidden.setdefault(unit, []).append(p)
        if p.block is not None and f"m:{p.block}" in view.graph:
            if p.knockout.kind == "shortcut":
                glyph_off.setdefault(f"m:{p.block}", set()).add(SHORTCUT)
            elif p.position is not None:
                glyph_off.setdefault(f"m:{p.block}", set()).add(p.position)
    badges: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    for unit in set(own) | set(hidden):
        mine, others = own.get(unit, []), hidden.get(unit, [])
        badges[unit] = _own_badge(mine) if not others else count_text(len(mine) + len(others))
        notes[unit] = [p.knockout.description for p in mine + others]
    for p in parts:
        for unit in {unit_of[n] for n in p.nodes if n in unit_of} & struck:
            notes.setdefault(unit, []).append(p.knockout.description)
    return ViewMarks(struck=frozenset(struck), edges=edges, badges=badges,
                     glyph_off={u: frozenset(s) for u, s in glyph_off.items()},
                     notes={u: tuple(dict.fromkeys(n)) for u, n in notes.items()})
