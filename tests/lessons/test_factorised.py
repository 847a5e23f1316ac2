"""Lesson 14, factorised convolutions: the pairs found against the real Inception v3
modules read here by name, their weights and MACs worked out from the modules' settings,
the fields measured empirically (a gradient traced back through convs of the same kernels),
and the whole-model totals against the project's count."""

from __future__ import annotations

import json
import time

import pytest
import torch
from torch import nn

from explorer.graph.stored import named_graph
from explorer.lessons import factorised as lesson
from explorer.models import get_model
from explorer.models.stats import count_flops, macs

# (module, first conv, second conv) of every stacked stride-1 factorised pair, as torchvision
# names them: Mixed_5b-5d's double 3x3, Mixed_6b-6e's 1x7/7x1 pairs, Mixed_7a's 1x7/7x1.
_EXPECTED = (
    [(m, "branch3x3dbl_2", "branch3x3dbl_3") for m in ("Mixed_5b", "Mixed_5c", "Mixed_5d")]
    + [(m, a, b) for m in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e")
       for a, b in (("branch7x7_2", "branch7x7_3"), ("branch7x7dbl_2", "branch7x7dbl_3"),
                    ("branch7x7dbl_4", "branch7x7dbl_5"))]
    + [("Mixed_7a", "branch7x7x3_2", "branch7x7x3_3")]
)


@pytest.fixture(scope="module")
def outcome():
    lesson.demonstrate.cache_clear()
    start = time.perf_counter()
    result = lesson.demonstrate()
    print(f"factorised-convolutions demonstrate(): {time.perf_counter() - start:.3f} s")
    return result


@pytest.fixture(scope="module")
def model():
    with torch.device("meta"):
        return get_model("inception_v3").eval()


def _figure(outcome, start: str):
    return next(f for f in outcome.figures if f.label.startswith(start))


def _empirical_field(kernels: list[tuple[int, int]], side: int = 15) -> tuple[int, int]:
    """The input extent (rows, columns) reaching the centre unit through 'same' convs of ``kernels``."""
    layers = [nn.Conv2d(1, 1, k, padding=(k[0] // 2, k[1] // 2), bias=False) for k in kernels]
    for layer in layers:
        nn.init.ones_(layer.weight)
    x = torch.zeros(1, 1, side, side, requires_grad=True)
    nn.Sequential(*layers)(x)[0, 0, side // 2, side // 2].backward()
    seen = x.grad[0, 0] != 0
    rows, cols = seen.any(1).nonzero(), seen.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_pairs_match_the_real_modules(outcome, model):
    rows = outcome.tables[0].rows
    assert [r[0] for r in rows] == [f"{m}.{a} → {b}" for m, a, b in _EXPECTED]
    grids = {"Mixed_5": 35, "Mixed_6": 17, "Mixed_7": 17}
    for row, (m, a, b) in zip(rows, _EXPECTED, strict=True):
        conv_a, conv_b = model.get_submodule(f"{m}.{a}.conv"), model.get_submodule(f"{m}.{b}.conv")
        n = max(conv_a.kernel_size + conv_b.kernel_size)
        n = 5 if conv_a.kernel_size == (3, 3) else n
        grid = grids[m[:7]]
        weights = conv_a.weight.numel() + conv_b.weight.numel()
        single = n * n * conv_a.in_channels * conv_b.out_channels
        assert row[3] == f"{conv_a.in_channels}→{conv_a.out_channels}→{conv_b.out_channels}"
        assert row[4:8] == (f"{weights:,}", f"{single:,}", f"{weights * grid * grid:,}", f"{single * grid * grid:,}")
        field = _empirical_field([conv_a.kernel_size, conv_b.kernel_size])
        assert field == (n, n) and row[8] == f"{n}×{n} / {n}×{n}"


def test_equal_channel_arithmetic(outcome):
    assert _figure(outcome, "5×5 → two 3×3").ours == round(100 * (1 - 18 / 25), 1) == 28.0
    assert _figure(outcome, "3×3 → 3×1 + 1×3").ours == round(100 * (1 - 6 / 9), 1)
    assert _figure(outcome, "7×7 → 1×7 + 7×1").ours == round(100 * (1 - 14 / 49), 1)


def test_whole_model_totals(outcome, model):
    total = macs(count_flops(model, (1, 3, 299, 299)))
    grids = {"Mixed_5": 35, "Mixed_6": 17, "Mixed_7": 17}
    extra = 0
    for m, a, b in _EXPECTED:
        conv_a, conv_b = model.get_submodule(f"{m}.{a}.conv"), model.get_submodule(f"{m}.{b}.conv")
        n = 5 if conv_a.kernel_size == (3, 3) else 7
        pair = conv_a.weight.numel() + conv_b.weight.numel()
        extra += (n * n * conv_a.in_channels * conv_b.out_channels - pair) * grids[m[:7]] ** 2
    assert _figure(outcome, "Inception v3 MACs").ours == f"{total / 1e9:.2f}G / {(total + extra) / 1e9:.2f}G"


def test_page_parts_and_links(outcome):
    assert lesson.LESSON.claim and lesson.LESSON.sources and lesson.LESSON.look_at
    assert lesson.LESSON.kind == "live" and lesson.LESSON.number == 14
    assert outcome.figures and outcome.verdict.startswith("Reproduced")
    for link in lesson.LESSON.links:
        assert named_graph(link.model)[0].find_node(link.node) is not None, link
    json.dumps(outcome.to_dict())  # the CLI prints it as JSON
