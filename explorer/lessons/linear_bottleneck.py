"""Lesson 11, linear bottlenecks (MobileNet v2 §3.2, Fig. 1): a ReLU on few channels destroys
information, so v2's narrow block outputs (the 1x1 projections) have no ReLU (no Qt).

Fig. 1 again: a 2-D spiral is embedded in n dimensions by a random Gaussian matrix T, passed
through a ReLU and projected back with T's pseudo-inverse, for the paper's n = 2, 3, 5, 15, 30.
What is lost is measured three ways: the paper's projection error ||x - T+ReLU(Tx)||, the
share of points *collapsed* (fewer than two of the n coordinates survive the ReLU, so a whole
neighbourhood lands on a ray or a point and its points can no longer be told apart), and the
error of the best decoder that reads only the ReLU's output (it solves for x from the
surviving coordinates: zero wherever the information is still there). Then the real model:
the zoo's ``mobilenet_v2`` graph, traced from torchvision's module, block by block, with
what follows each projection.
"""

from __future__ import annotations

import functools

import numpy as np

from explorer.lessons.base import (
    Chart,
    Figure,
    Lesson,
    Link,
    Outcome,
    Series,
    Source,
    Table,
)

DIMENSIONS = (2, 3, 5, 15, 30)  # the paper's Fig. 1 panels
POINTS = 300
MATRICES = 20  # seeded random T per n; the chart draws the first, the numbers use all
MODEL = "mobilenet_v2"
NODE = "features.3.conv.2"  # the projection of the first block with a shortcut
# MobileNet v2 Table 2: bottleneck rows repeated n = 1, 2, 3, 4, 3, 3, 1 times.
PAPER_BLOCKS = 17

_PAPER_FIG1 = {2: "collapses", 3: "collapses", 15: "kept (non-convex)", 30: "kept (non-convex)"}


def spiral(points: int = POINTS) -> np.ndarray:
    """The input manifold: ``points`` points along two turns of an Archimedean spiral
    (r proportional to the angle, largest radius 1), centred on the origin, in order along it.
    The origin itself is left out: every map through a ReLU without bias keeps it."""
    theta = np.linspace(np.pi / 4, 4 * np.pi, points)
    radius = theta / theta[-1]
    return np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1)


def embedding(n: int, seed: int) -> np.ndarray:
    """The random matrix T (n x 2, standard Gaussian) of seed ``seed``."""
    return np.random.default_rng(seed).standard_normal((n, 2))


def relu_round_trip(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Fig. 1's procedure: T+ ReLU(T x) for each row x of ``x``."""
    return np.maximum(x @ t.T, 0.0) @ np.linalg.pinv(t).T


def surviving_decoder(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The best any decoder can do from h = ReLU(T x) alone: the coordinates that survived
    (h_i > 0) are exact linear equations t_i . x = h_i, solved in least squares; with fewer
    than two of them only x's component along the survivor comes back (nothing with none)."""
    h = np.maximum(x @ t.T, 0.0)
    active = (h > 0).astype(float)
    gram = np.einsum("pi,ij,ik->pjk", active, t, t)  # T^T diag(active) T, one 2x2 per point
    rhs = h @ t  # T^T h: the inactive coordinates are zero
    count = active.sum(axis=1)
    a, b, d = gram[:, 0, 0], gram[:, 0, 1], gram[:, 1, 1]
    # The 2x2 inverse in closed form (np.linalg.pinv on 300 stacked matrices is 100x slower);
    # with one survivor the Gram matrix is t t^T and its pseudo-inverse applied to t h is
    # t h / |t|^2.
    det = np.where(count >= 2, a * d - b * b, 1.0)
    full = np.stack([d * rhs[:, 0] - b * rhs[:, 1], a * rhs[:, 1] - b * rhs[:, 0]], axis=1) / det[:, None]
    single = rhs / np.where(count == 1, a + d, 1.0)[:, None]
    return np.where((count >= 2)[:, None], full, np.where((count == 1)[:, None], single, 0.0))


@functools.cache
def spiral_measures() -> dict[int, dict[str, float]]:
    """Per n: the paper's projection error and the decoder's error (mean ||x - x^|| over the
    spiral, divided by its mean radius), the share of points collapsed, the share of
    coordinates zeroed and the size of the projected spiral relative to the input; the
    median over ``MATRICES`` seeded matrices (one ill-conditioned T would dominate a mean),
    with the projection error's range."""
    x = spiral()
    scale = float(np.linalg.norm(x, axis=1).mean())
    out: dict[int, dict[str, float]] = {}
    for n in DIMENSIONS:
        rows = []
        for seed in range(MATRICES):
            t = embedding(n, seed)
            h = np.maximum(x @ t.T, 0.0)
            projected = relu_round_trip(x, t)
            decoded = surviving_decoder(x, t)
            rows.append((
                float(np.linalg.norm(x - projected, axis=1).mean()) / scale,
                float(np.linalg.norm(x - decoded, axis=1).mean()) / scale,
                float(((h > 0).sum(axis=1) < 2).mean()),
                float((h == 0).mean()),
                float((projected * x).sum() / (x * x).sum()),
            ))
        values = np.asarray(rows)
        median = np.median(values, axis=0)
        out[n] = {"projection_error": float(median[0]), "decoder_error": float(median[1]),
                  "collapsed": float(median[2]), "zeroed": float(median[3]), "size": float(median[4]),
                  "projection_error_min": float(values[:, 0].min()),
                  "projection_error_max": float(values[:, 0].max())}
    return out


@functools.cache
def bottleneck_blocks(model: str = MODEL) -> tuple[dict[str, object], ...]:
    """The inverted residual blocks of ``model``'s traced graph (torchvision's module): per
    block its path, input, expanded and output channels, stride, whether it has the shortcut,
    its projection conv's node title and what the data meets after that conv and its BN.

    The graph, not the module list, decides what follows: fx records every call, a functional
    ``F.relu`` in ``forward`` too, which a walk over the submodules would miss.
    """
    from explorer.graph.stored import named_graph

    graph, _notice = named_graph(model)
    blocks = []
    for record in graph.blocks():
        if record.type != "InvertedResidual":
            continue
        convs = [n for n in record.nodes if graph.node(n).get("category") in ("conv", "depthwise")]
        depthwise = next(n for n in convs if graph.node(n)["category"] == "depthwise")
        projection = convs[-1]
        first = graph.node(convs[0])["hparams"]
        after = _after(graph, projection)
        blocks.append({
            "block": record.path,
            "in": int(first["in_channels"]),
            "expanded": int(graph.node(depthwise)["hparams"]["out_channels"]),
            "out": int(graph.node(projection)["hparams"]["out_channels"]),
            "stride": int(graph.node(depthwise)["hparams"]["stride"][0]),
            "shortcut": any(graph.node(n).get("category") == "add" for n in record.nodes),
            "projection": graph.node(projection)["title"],
            "after_depthwise": _after(graph, depthwise),
            "after": after,
        })
    return tuple(blocks)


def _after(graph, node: str) -> tuple[tuple[str, str], ...]:
    """(title, category) of the nodes that take ``node``'s output, looking through norms."""
    found: list[tuple[str, str]] = []
    frontier = list(graph.graph.successors(node))
    while frontier:
        nxt = frontier.pop(0)
        attrs = graph.node(nxt)
        if attrs.get("category") == "norm":
            frontier.extend(graph.graph.successors(nxt))
        else:
            found.append((str(attrs.get("title", nxt)), str(attrs.get("category", ""))))
    return tuple(found)


def _describe(after: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{title} ({category})" for title, category in after) or "nothing"


def demonstrate() -> Outcome:
    measures = spiral_measures()
    blocks = bottleneck_blocks()
    activated = [b for b in blocks if any(category == "activation" for _, category in b["after"])]
    depthwise_relu = [b for b in blocks if any(category == "activation" for _, category in b["after_depthwise"])]
    low, high = measures[DIMENSIONS[0]], measures[DIMENSIONS[-1]]

    figures = [
        # The paper's column is a word, so the unit goes in the label.
        *(Figure(f"n = {n}: spiral points collapsed, % (fewer than 2 of {n} coordinates survive the ReLU)",
                 round(100 * measures[n]["collapsed"], 1), _PAPER_FIG1.get(n)) for n in DIMENSIONS),
        *(Figure(f"n = {n}: Fig. 1's projection error ||x - T+ReLU(Tx)|| / spiral radius",
                 round(measures[n]["projection_error"], 3)) for n in (DIMENSIONS[0], DIMENSIONS[-1])),
        Figure(f"inverted residual blocks in {MODEL}", len(blocks), PAPER_BLOCKS),
        Figure("projections followed by an activation", len(activated), 0),
    ]
    spiral_table = Table(
        f"The spiral through ReLU(T x), median over {MATRICES} seeded Gaussian T",
        ("n", "points collapsed", "coordinates zeroed", "projection error (min-max)", "decoder error",
         "projected size"),
        tuple((n, f"{100 * m['collapsed']:.1f} %", f"{100 * m['zeroed']:.1f} %",
               f"{m['projection_error']:.3f} ({m['projection_error_min']:.2f}-{m['projection_error_max']:.2f})",
               f"{m['decoder_error']:.3f}", f"{m['size']:.2f}")
              for n, m in measures.items()),
    )
    block_table = Table(
        f"{MODEL}: the inverted residual blocks (traced from torchvision's module)",
        ("block", "in", "expanded (t)", "out", "stride", "shortcut", "after the depthwise conv + BN",
         "after the projection + BN"),
        tuple((b["block"], b["in"], f"{b['expanded']} (t = {b['expanded'] // b['in']})", b["out"], b["stride"],
               "yes" if b["shortcut"] else "no", _describe(b["after_depthwise"]), _describe(b["after"]))
              for b in blocks),
    )
    x = spiral()
    recovered = tuple(
        Series(f"n = {n}", *(tuple(float(v) for v in column) for column in relu_round_trip(x, embedding(n, 0)).T))
        for n in DIMENSIONS
    )
    charts = (
        Chart("The spiral after T+ ReLU(T x) (seed 0), points in order along it", "x", "y",
              (Series("input", tuple(float(v) for v in x[:, 0]), tuple(float(v) for v in x[:, 1])), *recovered)),
        Chart("What the ReLU loses against n (median over the matrices)", "n (dimensions the ReLU acts in)",
              "share / error relative to the spiral radius",
              (Series("points collapsed", tuple(float(n) for n in DIMENSIONS),
                      tuple(measures[n]["collapsed"] for n in DIMENSIONS)),
               Series("projection error ||x - T+ReLU(Tx)||", tuple(float(n) for n in DIMENSIONS),
                      tuple(measures[n]["projection_error"] for n in DIMENSIONS)),
               Series("decoder error (surviving coordinates)", tuple(float(n) for n in DIMENSIONS),
                      tuple(measures[n]["decoder_error"] for n in DIMENSIONS)))),
    )
    lost = [n for n in DIMENSIONS if measures[n]["collapsed"] > 0.05]
    reproduced = measures[2]["collapsed"] > 0.3 and measures[3]["collapsed"] > 0.3 and high["collapsed"] == 0.0
    verdict = (
        f"{'Reproduced' if reproduced else 'Not reproduced'}: after a ReLU in n = 2 dimensions "
        f"{100 * low['collapsed']:.0f} % of the spiral's points collapse (n = 3: {100 * measures[3]['collapsed']:.0f} %, "
        f"n = 5: {100 * measures[5]['collapsed']:.0f} %, n = 15: {100 * measures[15]['collapsed']:.0f} %, "
        f"n = 30: {100 * high['collapsed']:.0f} %); read from the ReLU's output alone, the spiral comes back to "
        f"within {high['decoder_error']:.1e} of its radius at n = 30 against {low['decoder_error']:.2f} at n = 2. "
        f"Fig. 1's own projection T+ReLU(Tx) hardly tells them apart (error {low['projection_error']:.2f} at n = 2, "
        f"{high['projection_error']:.2f} at n = 30): T+ undoes T, not the ReLU. In {MODEL}, {len(activated)} of "
        f"{len(blocks)} projections are followed by an activation."
    )
    notes = (
        (f"Every n zeroes about half the coordinates ({100 * low['zeroed']:.0f} % at n = 2, "
         f"{100 * high['zeroed']:.0f} % at n = 30): what decides the loss is whether at least two survive for "
         f"each point, which becomes certain as n grows. Collapsed at some n: {', '.join(map(str, lost)) or 'none'}."),
        (f"T+ is the inverse of T, not of ReLU(T.): for large n it returns a copy of the spiral about "
         f"{high['size']:.2f} times its size (the ReLU keeps half of the embedded signal), so the projection "
         "error levels off near 0.5 while no information is lost; Fig. 1's n = 15 and 30 panels show the same "
         "intact, shrunken and bent spiral."),
        ("The paper gives no numbers for Fig. 1, only the pictures: n = 2 and 3 lose information where points "
         "collapse into each other; n = 15 to 30 keep it."),
        (f"In {MODEL}, {len(depthwise_relu)} of {len(blocks)} depthwise convs are followed (after BN) by ReLU6: "
         "the non-linearity acts in the wide, expanded space; the narrow projection stays linear."),
    )
    return Outcome(figures=tuple(figures), verdict=verdict, tables=(spiral_table, block_table), charts=charts,
                   notes=notes)


LESSON = Lesson(
    name="linear-bottlenecks",
    number=11,
    title="Linear bottlenecks",
    claim=("A ReLU on few channels destroys information, so MobileNet v2 leaves the narrow outputs of its blocks "
           "(the 1x1 projections) linear and applies ReLU6 only in the expanded space."),
    sources=(Source("Sandler et al. 2018 (MobileNet v2)", "§3.2, Fig. 1"),
             Source("Sandler et al. 2018 (MobileNet v2)", "§3.3, Table 2")),
    paper_figure="MobileNet v2 Fig. 1",
    look_at=("The spiral chart: at n = 2 and 3 whole arcs fold onto lines and points, at n = 15 and 30 the spiral "
             "comes back whole (smaller and bent). The table of blocks: every projection + BN leads to an add or the "
             "next block's conv, never to a ReLU6. In the graph, open an inverted residual block: expand (1x1, "
             "ReLU6), depthwise (3x3, ReLU6), project (1x1, no activation), then the shortcut's add."),
    links=(Link("graph", MODEL, "mobilenet_v2: an inverted residual block's linear projection", node=NODE),
           Link("graph", "mobilenet_v2_small", "mobilenet_v2_small: the same projection", node=NODE)),
    demonstrate=demonstrate,
)
