"""Coordinates for a :class:`ViewGraph`: layered, top to bottom (or left to right), by
igraph's Sugiyama layout.

igraph does the layering and crossing minimisation in C (0.42 s on the fully expanded
DenseNet-121 where grandalf took 9.5 s and Graphviz dot 400 s), so none of that is
written here. What is added on top: node sizes, edge routes through igraph's control
points (skip edges run beside the blocks they skip, as dummy vertices), and DenseNet's
concatenation edges bundled onto one vertical bus per dense block instead of each taking
its own lane, which keeps an open dense block readable and the layout small.

Left to right is the same layout turned a quarter: it is computed top to bottom with every
box's width and height swapped, then x and y are swapped back (frames are measured after).
"""

from __future__ import annotations

import dataclasses
from typing import Any


from explorer.graph.collapse import ViewGraph

NODE_SIZE = (150.0, 40.0)
BLOCK_SIZE = (184.0, 52.0)
H_GAP = 36.0
V_GAP = 34.0
ACROSS_GAP = 84.0  # between layers laid left to right: room for a shape label on each edge
FRAME_PAD = 14.0
FRAME_TITLE = 18.0

Point = tuple[float, float]
DIRECTIONS = ("TB", "LR")  # top to bottom, left to right


@dataclasses.dataclass
class Layout:
    """Scene coordinates (pixels at zoom 1) of a view.

    Attributes:
        positions: unit id -> centre (x, y).
        sizes: unit id -> (width, height).
        routes: (source, target) -> polyline from the source's bottom (or side, for
            bundled edges) to the target's top.
        frames: (path, label, (x, y, width, height)) boxes around open blocks and stages.
        width: extent of the drawing.
        height: extent of the drawing.
        direction: "TB" (edges point down) or "LR" (edges point right).
    """

    positions: dict[str, Point]
    sizes: dict[str, Point]
    routes: dict[tuple[str, str], list[Point]]
    frames: list[tuple[str, str, tuple[float, float, float, float]]]
    width: float
    height: float
    direction: str = "TB"

    def rect(self, unit: str) -> tuple[float, float, float, float]:
        (x, y), (w, h) = self.positions[unit], self.sizes[unit]
        return (x - w / 2, y - h / 2, w, h)

    def to_dict(self) -> dict[str, Any]:
        return {
            "positions": {k: list(v) for k, v in self.positions.items()},
            "sizes": {k: list(v) for k, v in self.sizes.items()},
            "routes": [[u, v, [list(p) for p in pts]] for (u, v), pts in self.routes.items()],
            "frames": [[p, label, list(r)] for p, label, r in self.frames],
            "width": self.width,
            "height": self.height,
            "direction": self.direction,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        return cls(
            positions={k: (v[0], v[1]) for k, v in data["positions"].items()},
            sizes={k: (v[0], v[1]) for k, v in data["sizes"].items()},
            routes={(u, v): [(p[0], p[1]) for p in pts] for u, v, pts in data["routes"]},
            frames=[(p, label, tuple(r)) for p, label, r in data["frames"]],
            width=data["width"],
            height=data["height"],
            direction=data.get("direction", "TB"),
        )


def unit_size(attrs: dict[str, Any]) -> Point:
    return BLOCK_SIZE if attrs.get("unit") in ("block", "fold") else NODE_SIZE


def layout_view(view: ViewGraph, direction: str = "TB") -> Layout:
    """Lay a view out top to bottom ("TB": every edge points down) or left to right ("LR")."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r} is not one of {DIRECTIONS}")
    across = direction == "LR"
    units = view.order
    index = {u: i for i, u in enumerate(units)}
    sizes = {u: unit_size(view.graph.nodes[u]) for u in units}
    if across:
        sizes = {u: (h, w) for u, (w, h) in sizes.items()}
    laid_edges = [(u, v) for u, v, a in view.graph.edges(data=True) if not a.get("bundled")]
    # Imported here, not at the top: igraph imports matplotlib on import (0.6-0.9 s), and
    # the window, which only draws layouts the graph service computed, never needs it.
    import igraph

    g = igraph.Graph(n=len(units), edges=[(index[u], index[v]) for u, v in laid_edges], directed=True)
    col = max(w for w, _ in sizes.values()) + H_GAP if sizes else 1.0
    row = max(h for _, h in sizes.values()) + (ACROSS_GAP if across else V_GAP) if sizes else 1.0
    if units:
        result = g.layout_sugiyama(hgap=1, vgap=1, maxiter=100)
        coords = result.coords
        routing = result.edge_routing
    else:
        coords, routing = [], []
    coords = _spread_layers([list(c) for c in coords])
    min_x = min((c[0] for c in coords), default=0.0)
    positions = {u: ((coords[i][0] - min_x) * col + col / 2, coords[i][1] * row + row / 2)
                 for i, u in enumerate(units)}

    routes: dict[tuple[str, str], list[Point]] = {}
    for (u, v), controls in zip(laid_edges, routing):
        (x1, y1), (x2, y2) = positions[u], positions[v]
        start = (x1, y1 + sizes[u][1] / 2)
        end = (x2, y2 - sizes[v][1] / 2)
        points = [((cx - min_x) * col + col / 2, cy * row + row / 2) for cx, cy in controls]
        if y2 < y1:  # an edge igraph reversed to break a cycle: leave from the top
            start, end = (x1, y1 - sizes[u][1] / 2), (x2, y2 + sizes[v][1] / 2)
        routes[(u, v)] = [start, *points, end]
    _route_bundles(view, positions, sizes, routes)
    if across:
        positions = {u: (y, x) for u, (x, y) in positions.items()}
        sizes = {u: (h, w) for u, (w, h) in sizes.items()}
        routes = {key: [(y, x) for x, y in pts] for key, pts in routes.items()}

    frames = []
    for path, label, members in view.frames:
        rects = [(positions[m][0] - sizes[m][0] / 2, positions[m][1] - sizes[m][1] / 2,
                  positions[m][0] + sizes[m][0] / 2, positions[m][1] + sizes[m][1] / 2)
                 for m in members if m in positions]
        if not rects:
            continue
        x0 = min(r[0] for r in rects) - FRAME_PAD
        y0 = min(r[1] for r in rects) - FRAME_PAD - FRAME_TITLE
        x1 = max(r[2] for r in rects) + FRAME_PAD
        y1 = max(r[3] for r in rects) + FRAME_PAD
        frames.append((path, label, (x0, y0, x1 - x0, y1 - y0)))

    xs = [p[0] + sizes[u][0] / 2 for u, p in positions.items()]
    xs += [pt[0] for pts in routes.values() for pt in pts]
    ys = [p[1] + sizes[u][1] / 2 for u, p in positions.items()]
    ys += [pt[1] for pts in routes.values() for pt in pts]
    pad_x, pad_y = (row / 2, col / 2) if across else (col / 2, row / 2)
    width = max(xs, default=0.0) + pad_x
    height = max(ys, default=0.0) + pad_y
    return Layout(positions=positions, sizes=sizes, routes=routes, frames=frames,
                  width=width, height=height, direction=direction)


def _spread_layers(coords: list[list[float]]) -> list[list[float]]:
    """Keep vertices of one layer at least one column apart.

    igraph's placement may put two vertices of a layer closer than ``hgap`` when it
    aligns them with their neighbours; pushing the later one right keeps the order.
    """
    layers: dict[float, list[int]] = {}
    for i, (_, y) in enumerate(coords):
        layers.setdefault(y, []).append(i)
    for members in layers.values():
        members.sort(key=lambda i: coords[i][0])
        for prev, cur in zip(members, members[1:]):
            if coords[cur][0] < coords[prev][0] + 1.0:
                coords[cur][0] = coords[prev][0] + 1.0
    return coords


def _route_bundles(view: ViewGraph, positions: dict[str, Point], sizes: dict[str, Point],
                   routes: dict[tuple[str, str], list[Point]]) -> None:
    """Route bundled (dense) edges along one shared vertical bus per connected group."""
    bundled = [(u, v) for u, v, a in view.graph.edges(data=True) if a.get("bundled")]
    if not bundled:
        return
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in bundled:
        parent[find(u)] = find(v)
    groups: dict[str, list[tuple[str, str]]] = {}
    for u, v in bundled:
        groups.setdefault(find(u), []).append((u, v))
    right_edges = sorted((p[1], p[0] + sizes[u][0] / 2) for u, p in positions.items())
    for edges in groups.values():
        y_top = min(positions[u][1] for u, _ in edges)
        y_bottom = max(positions[v][1] for _, v in edges)
        bus_x = max((x for y, x in right_edges if y_top <= y <= y_bottom), default=0.0) + H_GAP / 2
        for u, v in edges:
            (x1, y1), (x2, y2) = positions[u], positions[v]
            start = (x1 + sizes[u][0] / 2, y1 + sizes[u][1] / 4)
            end = (x2 + sizes[v][0] / 2, y2 - sizes[v][1] / 4)
            routes[(u, v)] = [start, (bus_x, start[1]), (bus_x, end[1]), end]
