"""Lesson 1: stacked small kernels (VGG §2.3), measured on VGG-16's own stacks.

Two 3x3 convolutions see a 5x5 field and three see 7x7, with 18C^2 and 27C^2 weights
where one 5x5 or 7x7 would hold 25C^2 and 49C^2, and with a ReLU after each. The fields
come from the project's receptive-field code on VGG-16's traced graph; the weights from
the real modules and from single convolutions built with the same channels; the
write-ups' 5x5 example runs on a seeded tensor.
"""

from __future__ import annotations

import functools
from typing import Any

from explorer.lessons.base import Figure, Lesson, Link, Outcome, Source, Table

_C_EXAMPLE = 64
# VGG §2.3: "a stack of two 3x3 conv. layers ... has an effective receptive field of 5x5;
# three such layers have a 7x7 effective receptive field"; 3(3^2 C^2) = 27C^2 against
# 7^2 C^2 = 49C^2, "i.e. 81% more".
_PAPER_FIELDS = "3, 5, 7"
_PAPER_WEIGHTS = "27C² vs 49C²"
_PAPER_MORE = 81
# AlexNet §3.5: "96 kernels of size 11x11x3 with a stride of 4 pixels".
_PAPER_ALEXNET = "11×11, stride 4"


def _stacks(graph: Any) -> list[tuple[str, list[str], list[str]]]:
    """VGG's stacks from the traced graph: (node feeding the stack, its conv node ids, its
    activation node ids), one per run of convolutions between two pools."""
    stacks: list[tuple[str, list[str], list[str]]] = []
    feed = graph.order[0]
    convs: list[str] = []
    relus: list[str] = []
    for node_id in graph.order:
        category = graph.node(node_id)["category"]
        if category == "conv":
            convs.append(node_id)
        elif category == "activation" and convs:
            relus.append(node_id)
        elif category == "pool":
            if convs:
                stacks.append((feed, convs, relus))
            feed, convs, relus = node_id, [], []
        if category in ("reshape", "linear"):
            break
    return stacks


def _field_on(graph: Any, node_id: str, upstream: str) -> int:
    """The side of the field of ``node_id``'s unit (0, 0) on ``upstream``'s map (project's code)."""
    from explorer.graph.receptive_field import upstream_box

    return upstream_box(graph.graph, graph.order, node_id, 0, 0, upstream).size[0]


def _weights(module: Any) -> int:
    """Convolution weights (no biases) of ``module``: what VGG's C^2 counts count."""
    from torch import nn

    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def _example(channels: int, side: int, kernels: tuple[int, ...], device: str) -> tuple[list[str], int, int]:
    """The write-ups' example: a side x side x C input through valid convs of ``kernels``
    (each followed by a ReLU). Returns the shapes passed, the weights and the ReLUs."""
    import torch
    from torch import nn

    from explorer.models.meta import meta_device, shapes_only

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        # On "meta", only shapes: no weights made or filled.
        with meta_device() if device == "meta" else torch.device(device):
            stack = nn.Sequential(*(layer for k in kernels for layer in (nn.Conv2d(channels, channels, k), nn.ReLU())))
            x = torch.randn(1, channels, side, side)
    shapes = [f"{x.shape[-2]}×{x.shape[-1]}"]
    with torch.no_grad(), shapes_only():
        for layer in stack:
            x = layer(x)
            if isinstance(layer, nn.Conv2d):
                shapes.append(f"{x.shape[-2]}×{x.shape[-1]}")
    relus = sum(isinstance(m, nn.ReLU) for m in stack)
    return shapes, _weights(stack), relus


def _stack_rows(graph: Any, vgg: Any) -> list[dict[str, Any]]:
    """Each VGG-16 stack against one convolution with its field and channels."""
    from torch import nn

    from explorer.models.meta import meta_device
    from explorer.models.stats import count_flops, macs

    rows = []
    for index, (feed, convs, relus) in enumerate(_stacks(graph), start=1):
        members = sorted(convs + relus, key=graph.order.index)
        modules = [vgg.get_submodule(graph.module_of(n)) for n in members]
        stack = nn.Sequential(*modules)
        first, last = modules[0], [m for m in modules if isinstance(m, nn.Conv2d)][-1]
        field = _field_on(graph, convs[-1], feed)
        with meta_device():
            single = nn.Sequential(nn.Conv2d(first.in_channels, last.out_channels, field, padding=field // 2),
                                   nn.ReLU())
        shape = tuple(graph.node(feed)["shape"])
        rows.append({
            "stack": f"conv{index}", "convs": len(convs), "titles": [graph.node(n)["title"] for n in convs],
            "fields": [_field_on(graph, n, feed) for n in convs],
            "image_fields": [graph.node(n)["receptive_field"][0] for n in convs],
            "in": first.in_channels, "out": last.out_channels, "field": field,
            "stack_weights": _weights(stack), "single_weights": _weights(single),
            "stack_macs": macs(count_flops(stack, shape)), "single_macs": macs(count_flops(single, shape)),
            "relus": len(relus),
        })
    return rows


@functools.cache
def demonstrate() -> Outcome:
    from explorer.graph.stored import named_graph
    from explorer.models.stats import meta_model

    graph, _ = named_graph("vgg16")
    rows = _stack_rows(graph, meta_model("vgg16"))
    alex, _ = named_graph("alexnet")
    conv1 = next(n for n in alex.order if alex.node(n)["category"] == "conv")
    alex_field, alex_stride = alex.node(conv1)["receptive_field"][0], alex.node(conv1)["effective_stride"][0]

    deep = next(r for r in rows if r["convs"] == 3)  # conv3: the first stack of three
    square = next(r for r in rows if r["convs"] == 3 and r["in"] == r["out"])  # C in = C out
    c = square["in"]
    more = 100 * (square["single_weights"] / square["stack_weights"] - 1)

    examples = []
    for channels in (_C_EXAMPLE, square["in"]):
        for side, kernels in ((5, (5,)), (5, (3, 3)), (7, (7,)), (7, (3, 3, 3))):
            # The write-ups' own case runs on real numbers; the rest need only shapes.
            device = "cpu" if (channels, side) == (_C_EXAMPLE, 5) else "meta"
            shapes, weights, relus = _example(channels, side, kernels, device)
            examples.append((channels, " + ".join(f"{k}×{k}" for k in kernels), " → ".join(shapes),
                             weights, f"{weights / channels**2:g}C²", relus))
    five, two = examples[0], examples[1]

    first = rows[0]
    vgg_convs = [(t, f) for r in rows for t, f in zip(r["titles"], r["image_fields"])]
    reach = next(i for i, (_, f) in enumerate(vgg_convs) if f >= alex_field)
    figures = (
        Figure("field of 1, 2, 3 stacked 3×3 convs (VGG-16 conv3 stack, on its input map)",
               ", ".join(str(f) for f in deep["fields"]), _PAPER_FIELDS, "px"),
        Figure(f"weights of three 3×3 vs one 7×7, C = {c} in and out (VGG-16 {square['stack']})",
               f"{square['stack_weights'] // c**2}C² vs {square['single_weights'] // c**2}C²", _PAPER_WEIGHTS),
        Figure("extra weights of one 7×7 over three 3×3", round(more, 1), _PAPER_MORE, "%"),
        Figure(f"the write-ups' example, C = {_C_EXAMPLE}: one 5×5 vs two 3×3 on a 5×5 input",
               f"{five[3]:,} vs {two[3]:,} weights, {five[5]} vs {two[5]} ReLU", "25C² vs 18C²"),
        Figure("ReLUs: three 3×3 vs one 7×7", f"{deep['relus']} vs 1", "3 vs 1"),
        Figure("AlexNet conv1: field and stride", f"{alex_field}×{alex_field}, stride {alex_stride}",
               _PAPER_ALEXNET),
    )
    reproduced = deep["fields"] == [3, 5, 7] and more > 80
    verdict = (
        f"{'Reproduced' if reproduced else 'Not as the paper states'}. The project's receptive-field code gives {', '.join(map(str, deep['fields']))} px for "
        f"1, 2, 3 stacked 3×3 convs of VGG-16's conv3 stack; its {square['stack']} stack ({c}→{c}) holds "
        f"{square['stack_weights']:,} weights where one 7×7 would hold {square['single_weights']:,} "
        f"({more:.1f}% more), with {square['relus']} ReLUs instead of 1. The saving needs as many channels in "
        f"as out: VGG-16's first stack ({first['in']}→{first['out']}) holds {first['stack_weights']:,} weights "
        f"where one 5×5 {first['in']}→{first['out']} would hold {first['single_weights']:,}."
    )
    tables = (
        Table("VGG-16's stacks: the field grows by 2 per 3×3 (project's receptive-field code)",
              ("stack", "conv", "field on the stack's input", "field in the image", "ReLUs so far"),
              tuple((r["stack"], t, f"{f}×{f}", f"{fi}×{fi}", i + 1)
                    for r in rows for i, (t, f, fi) in enumerate(zip(r["titles"], r["fields"], r["image_fields"])))),
        Table("the write-ups' example on a seeded input (valid convolutions, no biases counted)",
              ("C", "kernels", "shapes", "weights", "per C²", "ReLUs"), tuple(examples)),
        Table("each VGG-16 stack against one convolution with its field and channels",
              ("stack", "channels", "field", "weights: stack", "weights: one conv", "MACs: stack", "MACs: one conv",
               "ReLUs"),
              tuple((r["stack"], f"{r['in']}→{r['out']}", f"{r['field']}×{r['field']}", f"{r['stack_weights']:,}",
                     f"{r['single_weights']:,}", f"{r['stack_macs']:,}", f"{r['single_macs']:,}",
                     f"{r['relus']} vs 1") for r in rows)),
    )
    notes = (
        (f"AlexNet's first layer sees {alex_field}×{alex_field} pixels at once with stride {alex_stride}; VGG-16 "
         f"first sees as much at {vgg_convs[reach][0]} ({vgg_convs[reach][1]}×{vgg_convs[reach][1]} px), after "
         f"{reach + 1} 3×3 convs, each with its ReLU."),
        ("The C² arithmetic assumes C channels in and out of every layer. Where a stack widens (3→64, 64→128...) "
         "its first layer reads fewer channels, so a single large kernel with the same channels is compared here."),
        ("A field measured in image pixels grows faster after each pool (the stride doubles): VGG-16's conv3 "
         f"stack sees {', '.join(map(str, deep['image_fields']))} px of the image."),
    )
    return Outcome(figures=figures, verdict=verdict, tables=tables, notes=notes)


LESSON = Lesson(
    name="small-kernels",
    number=1,
    title="Stacked small kernels",
    claim=("Two stacked 3×3 convolutions see as much as one 5×5 and three see as much as one 7×7, with fewer "
           "weights (18C² and 27C² instead of 25C² and 49C²) and a non-linearity after each."),
    sources=(Source("Simonyan & Zisserman 2015 (VGG)", "§2.3"),
             Source("Krizhevsky, Sutskever & Hinton 2012 (AlexNet)", "§3.5")),
    paper_figure="VGG §2.3",
    look_at=("The field on the stack's input grows 3, 5, 7 with each 3×3; the weights column shows where the "
             "saving holds (C in = C out) and where it does not (VGG's first stack reads 3 channels). In the "
             "tracer, pick the third conv of a stack and see its 7×7 window on the stack's input."),
    links=(
        Link("graph", "vgg16", "VGG-16: the conv3 stack", node="features.14"),
        Link("tracer", "vgg16", "VGG-16: the field of the third 3×3 of a stack", node="features.14"),
        Link("graph", "alexnet", "AlexNet: conv1, 11×11 stride 4", node="features.conv1"),
    ),
    demonstrate=demonstrate,
)
