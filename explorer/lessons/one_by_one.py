"""Lesson 2: 1x1 convolutions (NiN §3.1; GoogLeNet §4), on GoogLeNet's real inception 3a.

A 1x1 convolution mixes the channels at each pixel (it is a matrix multiply per pixel,
checked numerically on a real feature map of the shipped ``googlenet_small``), and in
Inception it reduces the channels before the 3x3 and 5x5 branches. Module 3a's parameters
and MACs as built are set against the same module built from its own widths without the
reductions, and against the naive module of the paper's Figure 2(a).
"""

from __future__ import annotations

import functools
from typing import Any

from explorer.lessons.base import Figure, Lesson, Link, Outcome, Source, Table

_MODULE = "inception3a"
# GoogLeNet Table 1, row inception (3a): #1x1 64, #3x3 reduce 96, #3x3 128, #5x5 reduce 16,
# #5x5 32, pool proj 32; params 159K, ops 128M; input 28x28x192, output 28x28x256.
_PAPER_WIDTHS = (64, 96, 128, 16, 32, 32)
_PAPER_PARAMS = "159K"
_PAPER_OPS = "128M"
_PAPER_OUT = 256


def _convs(module: Any) -> list[Any]:
    from torch import nn

    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _conv_like(conv: Any, in_channels: int, *, kernel: int | None = None) -> Any:
    """A conv with ``conv``'s output width, kernel (or ``kernel``) and bias, reading
    ``in_channels``, followed by a ReLU (as every conv of the paper's GoogLeNet)."""
    from torch import nn

    k = kernel if kernel is not None else conv.kernel_size[0]
    return nn.Sequential(nn.Conv2d(in_channels, conv.out_channels, k, padding=k // 2, bias=conv.bias is not None),
                         nn.ReLU())


def _concat(branches: list[Any]) -> Any:
    """Branches run on the same input and concatenated on channels, as Inception's forward does."""
    import torch
    from torch import nn

    class Concat(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.branches = nn.ModuleList(branches)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([branch(x) for branch in self.branches], 1)

    return Concat()


def _without_reductions(real: Any, *, pool_projection: bool) -> Any:
    """Inception module ``real`` (on the meta device) rebuilt from its own widths with the
    3x3 and 5x5 branches reading all input channels (no 1x1 reduction); without
    ``pool_projection`` the pool branch also passes its input on unprojected (the paper's
    naive module, Figure 2(a))."""
    import copy

    from explorer.models.meta import meta_device

    in_channels = real.branch1.conv.in_channels
    three, five = _convs(real.branch2)[-1], _convs(real.branch3)[-1]
    with meta_device():
        return _concat([copy.deepcopy(real.branch1), _conv_like(three, in_channels), _conv_like(five, in_channels),
                        copy.deepcopy(real.branch4 if pool_projection else real.branch4[0])])


def _cost(module: Any, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(parameters, MACs, output channels) of ``module`` on ``input_shape`` (meta device)."""
    import torch

    from explorer.models.meta import shapes_only
    from explorer.models.stats import count_flops, macs

    with torch.no_grad(), shapes_only():
        out = module(torch.zeros(input_shape, device="meta"))
    return sum(p.numel() for p in module.parameters()), macs(count_flops(module, input_shape)), int(out.shape[1])


@functools.cache
def _module_input(name: str, module: str) -> tuple[int, ...]:
    from explorer.graph.stored import named_graph

    graph, _ = named_graph(name)
    first = next(n for n in graph.order if graph.module_of(n).startswith(module + "."))
    feed = next(iter(graph.graph.pred[first]))
    return tuple(graph.node(feed)["shape"])


def _pixel_mixing() -> dict[str, Any]:
    """A real 1x1 conv (``googlenet_small``'s inception 3a, shipped weights) on the feature
    map a built-in sample gives it, against a matrix multiply at each pixel."""
    import torch

    from explorer.activations.preprocess import preprocess
    from explorer.activations.samples import load_sample
    from explorer.loading import load_model

    loaded = load_model("googlenet_small")
    model = loaded.module
    conv = model.get_submodule(f"{_MODULE}.branch1.conv")
    seen: dict[str, torch.Tensor] = {}
    handle = conv.register_forward_hook(lambda _m, args, out: seen.update(x=args[0], y=out))
    sample = load_sample()
    try:
        with torch.no_grad():
            model(preprocess(sample.image, loaded.input_spec).tensor)
    finally:
        handle.remove()
    x, y = seen["x"][0], seen["y"][0]
    weight = conv.weight.detach()[:, :, 0, 0]  # (out, in)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros(weight.shape[0])
    per_pixel = torch.einsum("oi,ihw->ohw", weight, x) + bias[:, None, None]
    return {"weights": loaded.weights.label(), "sample": sample.source.removeprefix("sample: "), "in": int(x.shape[0]),
            "out": int(y.shape[0]), "h": int(x.shape[1]), "w": int(x.shape[2]),
            "max_diff": float((per_pixel - y).abs().max()), "scale": float(y.abs().max())}


@functools.cache
def demonstrate() -> Outcome:
    from explorer.models.stats import meta_model

    real = meta_model("googlenet").get_submodule(_MODULE)
    shape = _module_input("googlenet", _MODULE)
    built = _cost(real, shape)
    unreduced = _cost(_without_reductions(real, pool_projection=True), shape)
    naive = _cost(_without_reductions(real, pool_projection=False), shape)
    widths = (real.branch1.conv.out_channels, *(c.out_channels for c in _convs(real.branch2)),
              *(c.out_channels for c in _convs(real.branch3)), _convs(real.branch4)[0].out_channels)
    mix = _pixel_mixing()
    grid = f"{shape[1]}×{shape[2]}×{shape[3]}"

    figures = (
        Figure("inception 3a widths (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj)",
               ", ".join(map(str, widths)), ", ".join(map(str, _PAPER_WIDTHS))),
        Figure(f"inception 3a parameters as built (input {grid})", built[0], _PAPER_PARAMS),
        Figure("inception 3a MACs as built", built[1], _PAPER_OPS),
        Figure("without the 1×1 reductions: parameters", unreduced[0]),
        Figure("without the 1×1 reductions: MACs", unreduced[1]),
        Figure("MACs without reductions ÷ with", round(unreduced[1] / built[1], 2), unit="×"),
        Figure("1×1 conv vs a matrix multiply at each pixel: largest difference", f"{mix['max_diff']:.2g}"),
    )
    reproduced = unreduced[1] > built[1] and naive[2] > built[2] and mix["max_diff"] <= 1e-4 * max(mix["scale"], 1)
    verdict = (
        f"{'Reproduced' if reproduced else 'Not as the papers state'}. Inception 3a as built holds {built[0]:,} parameters and costs {built[1] / 1e6:.1f}M MACs "
        f"on a {grid} input (Table 1: {_PAPER_PARAMS}, {_PAPER_OPS}); built from the same widths without the "
        f"1×1 reductions it would hold {unreduced[0]:,} and cost {unreduced[1] / 1e6:.1f}M MACs "
        f"({unreduced[1] / built[1]:.1f}× as much), and the naive module of Figure 2(a) would also grow the "
        f"output to {naive[2]} channels instead of {built[2]}. A 1×1 conv of the shipped googlenet_small equals "
        f"a {mix['out']}×{mix['in']} matrix multiply at each of its {mix['h']}×{mix['w']} pixels "
        f"(largest difference {mix['max_diff']:.2g})."
    )
    tables = (
        Table(f"inception 3a on a {grid} input (GoogLeNet as the paper builds it, biases included)",
              ("module", "parameters", "MACs", "output channels"),
              (("as built: 1×1 reductions before 3×3 and 5×5 (Fig. 2b)", f"{built[0]:,}", f"{built[1]:,}", built[2]),
               ("3×3 and 5×5 read all input channels", f"{unreduced[0]:,}", f"{unreduced[1]:,}", unreduced[2]),
               ("naive (Fig. 2a): no reductions, no pool projection", f"{naive[0]:,}", f"{naive[1]:,}", naive[2]))),
        Table("a 1×1 convolution is a matrix multiply at each pixel",
              ("model", "layer", "feature map", "weights", "largest |difference|", "largest |output|"),
              (("googlenet_small", f"{_MODULE}.branch1.conv", f"{mix['in']}×{mix['h']}×{mix['w']}",
                f"{mix['out']}×{mix['in']}", f"{mix['max_diff']:.2g}", f"{mix['scale']:.3g}"),)),
    )
    notes = (
        (f"The parameter count includes biases (every conv of the paper's GoogLeNet has one); Table 1's "
         f"{_PAPER_PARAMS} is a little under the {built[0]:,} counted here, while its {_PAPER_OPS} ops match."),
        (f"The 1×1 check ran on the built-in sample {mix['sample']} with googlenet_small's weights "
         f"({mix['weights']}); any difference is float rounding."),
        ("A 1×1 conv with stride 1 keeps the grid: it reduces (or raises) the channel count only. The paper's "
         "pool projection is a 1×1 too: without it the concatenated output grows with every module."),
    )
    return Outcome(figures=figures, verdict=verdict, tables=tables, notes=notes)


LESSON = Lesson(
    name="1x1-convolutions",
    number=2,
    title="1×1 convolutions",
    claim=("A 1×1 convolution mixes channels at each pixel; in Inception it reduces the channels before the 3×3 "
           "and 5×5 branches, so the module stays cheap and its output does not grow."),
    sources=(Source("Lin, Chen & Yan 2014 (Network in Network)", "§3.1"),
             Source("Szegedy et al. 2015 (GoogLeNet)", "§4, Table 1")),
    paper_figure="GoogLeNet Table 1 (inception 3a)",
    look_at=("The parameter and MAC columns: the same inception 3a with and without its 1×1 reductions. In the "
             "graph, open inception 3a and follow the 1×1 conv in front of the 3×3 and the 5×5."),
    links=(
        Link("graph", "googlenet", "GoogLeNet: inception 3a", node="inception3a (cat)"),
        Link("graph", "googlenet", "GoogLeNet: the 1×1 reduction before 3a's 5×5", node="inception3a.branch3.0.conv"),
    ),
    demonstrate=demonstrate,
)
