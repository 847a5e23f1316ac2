"""Lesson 14: factorised convolutions (Inception v3 §3-4), on the real ``inception_v3``.

Inception v3 replaces a 5x5 by two stacked 3x3 (the 35x35 modules' ``branch3x3dbl``) and
an n x n by a 1 x n then an n x 1 (n = 7 in the 17x17 modules' ``branch7x7`` and
``branch7x7dbl``). Every such stacked pair in the real modules is set against one n x n
conv built with the pair's input and output channels: weights, MACs (the project's FLOP
counter, meta device) and receptive fields (the project's receptive-field code, on the
model's graph and on the graph of the unfactorised conv). The paper's percentages assume
equal channels; they are measured on convs built that way too.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from explorer.lessons.base import Figure, Lesson, Link, Outcome, Source, Table

_MODEL = "inception_v3"
# Inception v3 §3.1: two 3x3 for a 5x5 is "a (9+9)/25x reduction of computation, resulting
# in a relative gain of 28%"; §3.2: "a 3x1 convolution followed by a 1x3 convolution ...
# is 33% cheaper" than a 3x3 with the same number of output filters; the saving of n x 1
# after 1 x n "increases dramatically as n grows" (no figure for n = 7).
_PAPER_5X5 = 28
_PAPER_3X3 = 33
_STEP = re.compile(r"^(?P<chain>.+)_(?P<step>\d+)$")


def _pairs(model: Any) -> list[dict[str, Any]]:
    """Every stacked, stride-1 factorised pair in ``model``'s Inception modules: two convs
    one after the other in the same branch (``branch7x7_2`` then ``branch7x7_3``) that are
    a 1 x n and an n x 1, or two 3x3. A branch's steps are numbered in the order its
    forward runs them; lettered steps (``_3a``, ``_3b``) run side by side and are skipped."""
    from torch import nn

    pairs = []
    for module_path, module in model.named_children():
        chains: dict[str, list[tuple[int, str, nn.Conv2d]]] = {}
        for name, child in module.named_children():
            match = _STEP.match(name)
            conv = getattr(child, "conv", None)
            if match and isinstance(conv, nn.Conv2d):
                chains.setdefault(match["chain"], []).append((int(match["step"]), name, conv))
        for steps in chains.values():
            steps.sort()
            i = 0
            while i + 1 < len(steps):
                (_, name_a, a), (_, name_b, b) = steps[i], steps[i + 1]
                kernels = {a.kernel_size, b.kernel_size}
                n = max(a.kernel_size + b.kernel_size)
                asymmetric = kernels == {(1, n), (n, 1)} and n > 1
                double = kernels == {(3, 3)}
                if (asymmetric or double) and a.stride == b.stride == (1, 1):
                    field = n if asymmetric else 5
                    pairs.append({"module": module_path, "a": f"{module_path}.{name_a}", "b": f"{module_path}.{name_b}",
                                  "conv_a": a, "conv_b": b, "asymmetric": asymmetric, "field": field,
                                  "kind": "{}×{} then {}×{}".format(*a.kernel_size, *b.kernel_size)})
                    i += 2
                else:
                    i += 1
    return pairs


def _input_shape(graph: Any, title: str) -> tuple[tuple[int, ...], str]:
    node_id = graph.find_node(title)
    feed = next(iter(graph.graph.pred[node_id]))
    return tuple(graph.node(feed)["shape"]), feed


def _macs(conv: Any, shape: tuple[int, ...]) -> int:
    from explorer.models.stats import count_flops, macs

    return macs(count_flops(conv, shape))


def _weights(*convs: Any) -> int:
    return sum(c.weight.numel() for c in convs)


@functools.cache
def _single_field(n: int, in_channels: int, out_channels: int, grid: tuple[int, int]) -> tuple[int, int]:
    """The receptive field of one n x n conv, by the project's code on its traced graph."""
    from torch import nn

    from explorer.graph import build_graph
    from explorer.models.meta import meta_device

    with meta_device():
        conv = nn.Sequential(nn.Conv2d(in_channels, out_channels, n, padding=n // 2, bias=False))
    graph = build_graph(conv, (1, in_channels, *grid))
    node = next(n for n in graph.order if graph.node(n)["category"] == "conv")
    size = graph.node(node)["receptive_field"]
    return int(size[0]), int(size[1])


def _equal_channels(channels: int) -> list[tuple[str, int, int, int]]:
    """The paper's arithmetic on convs built with ``channels`` in and out of every layer:
    (factorisation, n, weights factorised, weights unfactorised)."""
    from torch import nn

    from explorer.models.meta import meta_device

    c = channels
    out = []
    with meta_device():
        for label, n, convs in (
            ("5×5 → two 3×3", 5, (nn.Conv2d(c, c, 3), nn.Conv2d(c, c, 3))),
            ("3×3 → 3×1 + 1×3", 3, (nn.Conv2d(c, c, (3, 1)), nn.Conv2d(c, c, (1, 3)))),
            ("7×7 → 1×7 + 7×1", 7, (nn.Conv2d(c, c, (1, 7)), nn.Conv2d(c, c, (7, 1)))),
        ):
            out.append((label, n, _weights(*convs), _weights(nn.Conv2d(c, c, n))))
    return out


def _measure(model: Any, graph: Any) -> list[dict[str, Any]]:
    from torch import nn

    from explorer.graph.receptive_field import upstream_box
    from explorer.models.meta import meta_device

    rows = []
    for pair in _pairs(model):
        a, b, n = pair["conv_a"], pair["conv_b"], pair["field"]
        shape_a, feed = _input_shape(graph, f"{pair['a']}.conv")
        shape_b, _ = _input_shape(graph, f"{pair['b']}.conv")
        with meta_device():
            single = nn.Conv2d(a.in_channels, b.out_channels, n, padding=n // 2, bias=False)
        box = upstream_box(graph.graph, graph.order, graph.find_node(f"{pair['b']}.conv"), 0, 0, feed)
        rows.append({**pair, "in": a.in_channels, "mid": a.out_channels, "out": b.out_channels,
                     "grid": shape_a[2:], "weights": _weights(a, b), "single_weights": _weights(single),
                     "macs": _macs(a, shape_a) + _macs(b, shape_b), "single_macs": _macs(single, shape_a),
                     "rf": box.size, "single_rf": _single_field(n, a.in_channels, b.out_channels, shape_a[2:])})
    return rows


@functools.cache
def demonstrate() -> Outcome:
    from explorer.graph.stored import named_graph
    from explorer.models.stats import meta_model

    graph, _ = named_graph(_MODEL)
    rows = _measure(meta_model(_MODEL), graph)
    seven = next(r for r in rows if r["asymmetric"] and r["field"] == 7)
    five = next(r for r in rows if not r["asymmetric"])
    equal = _equal_channels(seven["mid"])
    saved = {label: 100 * (1 - f / u) for label, _, f, u in equal}
    total = graph.total_flops // 2
    unfactorised = total - sum(r["macs"] for r in rows) + sum(r["single_macs"] for r in rows)
    fields_kept = all(tuple(r["rf"]) == tuple(r["single_rf"]) == (r["field"], r["field"]) for r in rows)

    def share(r: dict[str, Any], key: str) -> float:
        return r[key] / r[f"single_{key}"]

    figures = (
        Figure("5×5 → two 3×3, equal channels: weights and MACs saved", round(saved["5×5 → two 3×3"], 1),
               _PAPER_5X5, "%"),
        Figure("3×3 → 3×1 + 1×3, equal channels: saved", round(saved["3×3 → 3×1 + 1×3"], 1), _PAPER_3X3, "%"),
        Figure("7×7 → 1×7 + 7×1, equal channels: saved", round(saved["7×7 → 1×7 + 7×1"], 1), unit="%"),
        Figure(f"{seven['a'].rsplit('_', 1)[0]} ({seven['in']}→{seven['mid']}→{seven['out']}): MACs of the pair ÷ "
               "one 7×7", round(share(seven, "macs"), 3)),
        Figure(f"{five['a'].rsplit('_', 1)[0]} ({five['in']}→{five['mid']}→{five['out']}): MACs of the pair ÷ "
               "one 5×5", round(share(five, "macs"), 3), round((9 + 9) / 25, 2)),
        Figure("receptive field: 1×7 then 7×1 / one 7×7",
               f"{seven['rf'][0]}×{seven['rf'][1]} / {seven['single_rf'][0]}×{seven['single_rf'][1]}", "7×7"),
        Figure("receptive field: two 3×3 / one 5×5",
               f"{five['rf'][0]}×{five['rf'][1]} / {five['single_rf'][0]}×{five['single_rf'][1]}", "5×5"),
        Figure("Inception v3 MACs as built / with every pair unfactorised",
               f"{total / 1e9:.2f}G / {unfactorised / 1e9:.2f}G"),
    )
    reproduced = fields_kept and abs(saved["5×5 → two 3×3"] - _PAPER_5X5) < 1 and abs(
        saved["3×3 → 3×1 + 1×3"] - _PAPER_3X3) < 1
    verdict = (
        f"{'Reproduced' if reproduced else 'Not as the paper states'}, with a caveat on channels. With equal "
        f"channels two 3×3 save {saved['5×5 → two 3×3']:.1f}% of a 5×5, 3×1 + 1×3 save "
        f"{saved['3×3 → 3×1 + 1×3']:.1f}% of a 3×3 and 1×7 + 7×1 save {saved['7×7 → 1×7 + 7×1']:.1f}% of a 7×7, "
        f"and every pair in the real modules sees exactly the field of the conv it replaces. With the real "
        f"channels the saving differs: {seven['a'].rsplit('_', 1)[0]} costs {share(seven, 'macs'):.2f} of a 7×7 "
        f"but {five['a'].rsplit('_', 1)[0]} ({five['in']}→{five['mid']}→{five['out']}) "
        f"{share(five, 'macs'):.2f} of a 5×5, because its middle layer is wider than its input. Over the whole "
        f"network the {len(rows)} factorised pairs bring {unfactorised / 1e9:.2f}G MACs down to {total / 1e9:.2f}G."
    )
    tables = (
        Table("every stacked factorised pair in the real Inception v3 against one conv of the same field and channels",
              ("pair", "kind", "grid", "channels", "weights", "weights: one conv", "MACs", "MACs: one conv",
               "field (pair / one conv)"),
              tuple((f"{r['a']} → {r['b'].rsplit('.', 1)[1]}", r["kind"], f"{r['grid'][0]}×{r['grid'][1]}",
                     f"{r['in']}→{r['mid']}→{r['out']}", f"{r['weights']:,}", f"{r['single_weights']:,}",
                     f"{r['macs']:,}", f"{r['single_macs']:,}",
                     f"{r['rf'][0]}×{r['rf'][1]} / {r['single_rf'][0]}×{r['single_rf'][1]}") for r in rows)),
        Table(f"the paper's arithmetic: convs built with {seven['mid']} channels in and out",
              ("factorisation", "weights factorised", "weights unfactorised", "ratio", "saved"),
              tuple((label, f"{f:,}", f"{u:,}", f"{f / u:.3f}", f"{100 * (1 - f / u):.1f}%")
                    for label, _, f, u in equal)),
    )
    notes = (
        ("The 35×35 modules (Mixed_5b-5d) as torchvision builds them, after Google's released model, keep a "
         "true 5×5 branch (branch5x5_1 → branch5x5_2) beside the factorised double 3×3; the paper's Figure 5 "
         "shows only the factorised form."),
        ("On the 8×8 grid (Mixed_7b, 7c) the 1×3 and 3×1 run side by side and are concatenated (the paper's "
         "Figure 7, an expanded filter bank), not stacked, so no pair there replaces a 3×3; the 3×1 + 1×3 "
         "figure is measured on built convs only."),
        ("Fields are measured on the map feeding each pair; MACs count the convolutions (BatchNorm and ReLU "
         "hold no multiply-adds)."),
    )
    return Outcome(figures=figures, verdict=verdict, tables=tables, notes=notes)


LESSON = Lesson(
    name="factorised-convolutions",
    number=14,
    title="Factorised convolutions",
    claim=("A 5×5 convolution can be replaced by two 3×3 and an n×n by a 1×n followed by an n×1: the same "
           "receptive field for fewer weights and operations."),
    sources=(Source("Szegedy et al. 2016 (Inception v3, 'Rethinking the Inception Architecture')", "§3-4"),),
    paper_figure="Inception v3 §3.1 (28%), §3.2 (33%)",
    look_at=("The field column: each pair sees what the single conv would. The weights and MACs columns: the "
             "pair costs less, by how much depends on its channels. In the tracer, pick Mixed_6b's 7×1 conv and "
             "see the 7×7 window on the map before its 1×7."),
    links=(
        Link("graph", _MODEL, "Inception v3: Mixed_6b, a 17×17 module", node="Mixed_6b (cat)"),
        Link("tracer", _MODEL, "Inception v3: the field of 1×7 then 7×1", node="Mixed_6b.branch7x7_3.conv"),
        Link("graph", _MODEL, "Inception v3: Mixed_5b's two 3×3", node="Mixed_5b.branch3x3dbl_3.conv"),
    ),
    demonstrate=demonstrate,
)
