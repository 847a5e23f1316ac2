"""Lesson 10: depthwise separable convolution (MobileNet v1 §3.1, Table 4).

For every separable block of the real ``mobilenet_v1`` at 224x224: the MACs of its 3x3
depthwise and 1x1 pointwise convs against a standard 3x3 conv of the same shape (built
with the block's channels and stride), and their ratio beside the paper's 1/N + 1/D_K^2.
Then the whole model against the same network built with standard convolutions (the
paper's "Conv MobileNet"), and the write-ups' 3 -> 256 example. Every conv is counted with
the project's FLOP counter on the meta device.
"""

from __future__ import annotations

import functools
from typing import Any

from explorer.lessons.base import Figure, Lesson, Link, Outcome, Source, Table

_MODEL = "mobilenet_v1"
# MobileNet Table 4: Conv MobileNet 71.7% ImageNet accuracy, 4866 million mult-adds, 29.3
# million parameters; MobileNet 70.6%, 569 million, 4.2 million. §3.1: the separable
# cost over the standard one is 1/N + 1/D_K^2.
_PAPER_MACS = 569e6
_PAPER_FULL_MACS = 4866e6
_PAPER_PARAMS = 4.2e6
_PAPER_FULL_PARAMS = 29.3e6
# The write-ups' example: 3 input channels, 256 outputs, 3x3 kernels.
_EXAMPLE = (3, 256, 3)
_PAPER_EXAMPLE = "6,912 vs 795"


def _layer_macs(model: Any, input_shape: tuple[int, ...]) -> dict[str, tuple[tuple[int, ...], int]]:
    """Every conv and linear layer of ``model`` (meta device): (its output shape, its MACs),
    by module path, from one counted forward pass (BatchNorm and ReLU hold no multiply-adds)."""
    from explorer.models.stats import layer_summary, macs

    return {row.path: (row.output_shape, macs(row.flops)) for row in layer_summary(model, input_shape)
            if row.type in ("Conv2d", "Linear")}


def _separable_blocks(model: Any) -> list[tuple[str, Any, Any]]:
    """(path, depthwise conv, pointwise conv) of every block whose first conv is depthwise."""
    from torch import nn

    blocks = []
    for path, module in model.named_children():
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        if len(convs) == 2 and convs[0].groups == convs[0].in_channels > 1 and convs[1].kernel_size == (1, 1):
            blocks.append((path, convs[0], convs[1]))
    return blocks


def _all_standard(model: Any) -> Any:
    """``model`` with every separable block replaced by a standard conv of the same input,
    output and stride, with BN and ReLU (the paper's Conv MobileNet); on the meta device."""
    import copy

    from explorer.models.architectures._layers import conv_bn_relu
    from explorer.models.meta import meta_device

    standard = copy.deepcopy(model)
    with meta_device():
        for path, depthwise, pointwise in _separable_blocks(model):
            setattr(standard, path, conv_bn_relu(depthwise.in_channels, pointwise.out_channels, depthwise.kernel_size,
                                                 stride=depthwise.stride, padding=depthwise.padding))
    return standard


def _example() -> tuple[int, int]:
    """Weights of the write-ups' standard conv and its separable pair."""
    from torch import nn

    from explorer.models.meta import meta_device

    m, n, k = _EXAMPLE
    with meta_device():
        standard = nn.Conv2d(m, n, k, bias=False)
        separable = nn.Sequential(nn.Conv2d(m, m, k, groups=m, bias=False), nn.Conv2d(m, n, 1, bias=False))
    return (sum(p.numel() for p in standard.parameters()), sum(p.numel() for p in separable.parameters()))


@functools.cache
def demonstrate() -> Outcome:
    from explorer.models import get_model_info
    from explorer.models.stats import meta_model

    shape = get_model_info(_MODEL).input_shape
    model = meta_model(_MODEL)
    standard = _all_standard(model)
    layers, full_layers = _layer_macs(model, shape), _layer_macs(standard, shape)
    total, full_total = sum(m for _, m in layers.values()), sum(m for _, m in full_layers.values())
    params = sum(p.numel() for p in model.parameters())
    full_params = sum(p.numel() for p in standard.parameters())

    rows, gaps = [], []
    for path, depthwise, pointwise in _separable_blocks(model):
        (_, dw), (out_shape, pw) = layers[f"{path}.depthwise.conv"], layers[f"{path}.pointwise.conv"]
        std = full_layers[f"{path}.conv"][1]
        n, k = pointwise.out_channels, depthwise.kernel_size[0]
        measured, formula = (dw + pw) / std, 1 / n + 1 / k**2
        gaps.append(abs(measured - formula))
        grid = out_shape[2]  # a 1x1 conv: the grid of the depthwise output it runs on
        rows.append((path, f"{depthwise.in_channels}→{n}", depthwise.stride[0], f"{grid}×{grid}", f"{dw:,}",
                     f"{pw:,}", f"{std:,}", f"{measured:.4f}", f"{formula:.4f}", f"{std / (dw + pw):.1f}×"))
    example = _example()
    saving = full_total / total
    reproduced = max(gaps) < 1e-9 and abs(total - _PAPER_MACS) / _PAPER_MACS < 0.01

    figures = (
        Figure("MobileNet v1 (224×224) MACs", total, f"{_PAPER_MACS / 1e6:,.0f}M"),
        Figure("the same network with standard convs: MACs", full_total, f"{_PAPER_FULL_MACS / 1e6:,.0f}M"),
        Figure("standard ÷ separable MACs", round(saving, 2), round(_PAPER_FULL_MACS / _PAPER_MACS, 2), "×"),
        Figure("MobileNet v1 parameters", params, f"{_PAPER_PARAMS / 1e6:.1f}M"),
        Figure("with standard convs: parameters", full_params, f"{_PAPER_FULL_PARAMS / 1e6:.1f}M"),
        Figure("per block: |measured ratio − (1/N + 1/D_K²)|, largest", f"{max(gaps):.1g}", 0),
        Figure("the write-ups' example: 3×3, 3 → 256, standard vs separable weights",
               f"{example[0]:,} vs {example[1]:,}", _PAPER_EXAMPLE),
    )
    verdict = (
        f"{'Reproduced' if reproduced else 'Not as the paper states'}. MobileNet v1 costs {total / 1e6:.1f}M MACs "
        f"here (Table 4: {_PAPER_MACS / 1e6:.0f}M); built with standard 3×3 convs instead it would cost "
        f"{full_total / 1e6:,.1f}M ({_PAPER_FULL_MACS / 1e6:,.0f}M), {saving:.2f}× as much, with {full_params:,} "
        f"parameters instead of {params:,} ({_PAPER_FULL_PARAMS / 1e6:.1f}M vs {_PAPER_PARAMS / 1e6:.1f}M). In "
        f"every block the measured ratio equals 1/N + 1/D_K² (largest difference {max(gaps):.1g})."
    )
    tables = (
        Table("each separable block against a standard 3×3 conv with its channels and stride (MACs)",
              ("block", "channels", "stride", "output grid", "depthwise", "pointwise", "standard 3×3",
               "measured ratio", "1/N + 1/D_K²", "saving"), tuple(rows)),
        Table("the whole network (224×224), counted layer by layer",
              ("network", "MACs", "parameters"),
              (("MobileNet v1 as built (depthwise separable)", f"{total:,}", f"{params:,}"),
               ("the same with standard convs (Conv MobileNet)", f"{full_total:,}", f"{full_params:,}"))),
        Table("the write-ups' example: 3 input channels, 256 outputs, 3×3 kernels",
              ("convolution", "weights"),
              ((f"standard {_EXAMPLE[2]}×{_EXAMPLE[2]}×{_EXAMPLE[0]}×{_EXAMPLE[1]}", f"{example[0]:,}"),
               (f"depthwise {_EXAMPLE[2]}×{_EXAMPLE[2]}×1×{_EXAMPLE[0]} + pointwise 1×1×{_EXAMPLE[0]}×{_EXAMPLE[1]}",
                f"{example[1]:,}"))),
    )
    first, last = rows[0], rows[-1]
    notes = (
        (f"The saving grows with the output width N: {first[-1]} in {first[0]} ({first[1]}), {last[-1]} in "
         f"{last[0]} ({last[1]}); with N large the ratio tends to 1/D_K² = 1/9."),
        ("The totals count convolutions and the classifier (BatchNorm and ReLU hold no multiply-adds); the paper's "
         "Table 4 also reports 1.1 points less ImageNet accuracy for the separable network (70.6% vs 71.7%), "
         "which needs ImageNet training to check."),
        ("MobileNet v1 as built here uses ReLU after every conv, as the paper's Fig. 3 says; ReLU6 comes from "
         "Google's TF-Slim release and MobileNet v2."),
    )
    return Outcome(figures=figures, verdict=verdict, tables=tables, notes=notes)


LESSON = Lesson(
    name="depthwise-separable",
    number=10,
    title="Depthwise separable convolution",
    claim=("A 3×3 depthwise convolution (one filter per input channel) followed by a 1×1 pointwise one does the "
           "work of a standard convolution at 1/N + 1/D_K² of its cost: about 8-9× less for MobileNet."),
    sources=(Source("Howard et al. 2017 (MobileNets)", "§3.1, Table 4"),),
    paper_figure="MobileNet Table 4",
    look_at=("The measured ratio column beside 1/N + 1/D_K²: the same number in every block. Then the totals: "
             "the separable network against the same network with standard convs. In the graph, a block is a "
             "depthwise conv (one filter per channel) and a 1×1 conv."),
    links=(
        Link("graph", _MODEL, "MobileNet v1: the first depthwise conv", node="block2.depthwise.conv"),
        Link("graph", _MODEL, "MobileNet v1: its pointwise 1×1 conv", node="block2.pointwise.conv"),
    ),
    demonstrate=demonstrate,
)
