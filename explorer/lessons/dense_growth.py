"""Lesson 9: growth rate and transitions (DenseNet §3), the channel ledger of DenseNet-121.

Each layer of a dense block reads the concatenation of everything before it in the block
and adds k (the growth rate) new maps, so a block of L layers adds L*k channels; a
transition (1x1 conv, 2x2 average pool) between blocks halves the channels (compression
theta = 0.5). The ledger is read from the traced graph of the real DenseNet-121 (the
app's graph of torchvision's module: every layer's channels and shapes as they ran),
which answers in milliseconds where building the module takes half a second.
"""

from __future__ import annotations

import functools
from typing import Any

from explorer.lessons.base import Figure, Lesson, Link, Outcome, Source, Table

_MODEL = "densenet121"
# DenseNet §3 and Table 1: k = 32 for DenseNet-121, dense blocks of 6, 12, 24 and 16
# layers, "each 1x1 convolution produce[s] 4k feature-maps", compression theta = 0.5
# (DenseNet-BC); the initial convolution has 2k = 64 outputs, so the first block goes
# 64 -> 64 + 6 * 32 = 256 (the write-ups' figure).
_PAPER_K = 32
_PAPER_BLOCKS = "6, 12, 24, 16"
_PAPER_BOTTLENECK = "4k = 128"
_PAPER_THETA = 0.5
_PAPER_FIRST = "64 → 256"


def _node(graph: Any, title: str) -> dict[str, Any]:
    node_id = graph.find_node(title)
    if node_id is None:
        raise LookupError(f"{_MODEL}'s graph has no node {title!r}")
    return graph.node(node_id)


def _ledger(graph: Any) -> list[dict[str, Any]]:
    """Per dense block: its layers' channels and the transition after it (None for the last)."""
    blocks = graph.blocks("dense_block")
    out = []
    for block in blocks:
        layers = []
        for path in block.children:
            conv1, conv2 = _node(graph, f"{path}.conv1"), _node(graph, f"{path}.conv2")
            layers.append({"title": path, "in": _node(graph, f"{path}.norm1")["shape"][1],
                           "bottleneck": conv1["hparams"]["out_channels"], "new": conv2["hparams"]["out_channels"],
                           "grid": conv2["shape"][2]})
        parent = graph.modules[block.parent or ""]
        siblings = parent.children
        after = siblings[siblings.index(block.path) + 1] if siblings.index(block.path) + 1 < len(siblings) else None
        transition = None
        if after is not None and graph.modules[after].kind != "layer":
            conv = _node(graph, f"{after}.conv")["hparams"]
            pool = _node(graph, f"{after}.pool")
            transition = {"title": after, "in": conv["in_channels"], "out": conv["out_channels"],
                          "grid": pool["shape"][2]}
        out.append({"title": block.path, "layers": layers, "out": _node(graph, f"{block.path} (cat)")["shape"][1],
                    "transition": transition})
    return out


@functools.cache
def demonstrate() -> Outcome:
    from explorer.graph.stored import named_graph

    graph, _ = named_graph(_MODEL)
    blocks = _ledger(graph)
    first = blocks[0]
    layers = first["layers"]
    k0, k = layers[0]["in"], layers[0]["new"]
    growth = {layer["new"] for block in blocks for layer in block["layers"]}
    bottlenecks = {layer["bottleneck"] for block in blocks for layer in block["layers"]}
    transitions = [b["transition"] for b in blocks if b["transition"] is not None]
    thetas = {t["out"] / t["in"] for t in transitions}
    sizes = ", ".join(str(len(b["layers"])) for b in blocks)
    matches = all(layer["in"] == k0 + i * k for i, layer in enumerate(layers)) and first["out"] == k0 + len(layers) * k

    figures = (
        Figure("growth rate k (new maps per layer, every layer)", ", ".join(map(str, sorted(growth))), _PAPER_K),
        Figure("layers per dense block", sizes, _PAPER_BLOCKS),
        Figure("first block's channels", f"{k0} → {first['out']}", _PAPER_FIRST),
        Figure("1×1 bottleneck width in every layer", ", ".join(map(str, sorted(bottlenecks))), _PAPER_BOTTLENECK),
        Figure("compression θ (transition out ÷ in, every transition)",
               ", ".join(f"{t:g}" for t in sorted(thetas)), _PAPER_THETA),
        Figure("channels into the classifier", blocks[-1]["out"]),
    )
    halvings = ", ".join(f"{t['in']} → {t['out']}" for t in transitions)
    reproduced = matches and thetas == {_PAPER_THETA} and growth == {_PAPER_K} and sizes == _PAPER_BLOCKS
    verdict = (
        f"{'Reproduced' if reproduced else 'Not as the paper states'}. In DenseNet-121's first block layer ℓ reads "
        f"{', '.join(str(layer['in']) for layer in layers)} channels ({k0} + ℓ·{k} would be "
        f"{', '.join(str(k0 + i * k) for i in range(len(layers)))}) and the block ends at {first['out']} "
        f"({k0} + {len(layers)}·{k} = {k0 + len(layers) * k}); the transitions take {halvings} channels "
        f"(θ = {', '.join(f'{t:g}' for t in sorted(thetas))}) and halve the grid."
    )
    first_rows = tuple(
        (layer["title"], i, layer["in"], f"{k0} + {i}·{k} = {k0 + i * k}", layer["bottleneck"], layer["new"],
         layer["in"] + layer["new"])
        for i, layer in enumerate(layers)
    )
    block_rows = []
    for block in blocks:
        n_in, n = block["layers"][0]["in"], len(block["layers"])
        t = block["transition"]
        block_rows.append((
            block["title"], n, f"{block['layers'][0]['grid']}×{block['layers'][0]['grid']}", n_in, block["out"],
            f"{n_in} + {n}·{k} = {n_in + n * k}",
            f"{t['in']} → {t['out']}" if t else "(none: BN, pool, classifier)",
            f"{t['out'] / t['in']:g}" if t else "", f"{t['grid']}×{t['grid']}" if t else "",
        ))
    tables = (
        Table(f"the first dense block, layer by layer (k = {k})",
              ("layer", "ℓ", "input channels", "k₀ + ℓ·k", "1×1 bottleneck", "new maps", "after concatenation"),
              first_rows),
        Table("every dense block and the transition after it",
              ("block", "layers", "grid", "in", "out", "in + L·k", "transition", "θ", "grid after"),
              tuple(block_rows)),
    )
    notes = (
        (f"Each layer's 3×3 conv reads only the {min(bottlenecks)}-channel output of its 1×1 bottleneck, "
         "so the cost of a layer grows with its input only through that 1×1 conv."),
        ("Read from the app's graph of the real module (its traced shapes and layer settings), the same graph "
         "the linked view shows."),
    )
    return Outcome(figures=figures, verdict=verdict, tables=tables, notes=notes)


LESSON = Lesson(
    name="growth-rate",
    number=9,
    title="Growth rate and transitions",
    claim=("Each layer of a dense block receives the concatenation of all earlier maps in its block and adds k "
           "new ones, so a block of 6 layers with k = 32 takes 64 channels to 256; transitions between blocks "
           "halve the channels."),
    sources=(Source("Huang et al. 2017 (DenseNet)", "§3, Table 1"),),
    paper_figure="DenseNet Table 1 (DenseNet-121)",
    look_at=("The input-channels column climbs by k = 32 per layer; the transitions column halves each block's "
             "output. In the graph, open the first dense block and count the concatenations."),
    links=(
        Link("graph", _MODEL, "DenseNet-121: the first dense block's output", node="features.denseblock1 (cat)"),
        Link("graph", _MODEL, "DenseNet-121: the first transition's 1×1 conv", node="features.transition1.conv"),
    ),
    demonstrate=demonstrate,
)
