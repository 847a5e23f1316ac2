"""Lesson 10, depthwise separable convolution: the totals against the project's whole-model
count, and the all-standard network and every block worked out from the real module's
channels and grids."""

from __future__ import annotations

import json
import time

import pytest
import torch

from explorer.graph.stored import named_graph
from explorer.lessons import depthwise as lesson
from explorer.models import get_model
from explorer.models.stats import count_flops, macs


@pytest.fixture(scope="module")
def outcome():
    lesson.demonstrate.cache_clear()
    start = time.perf_counter()
    result = lesson.demonstrate()
    print(f"depthwise-separable demonstrate(): {time.perf_counter() - start:.3f} s")
    return result


@pytest.fixture(scope="module")
def model():
    with torch.device("meta"):
        return get_model("mobilenet_v1")


def _figure(outcome, start: str):
    return next(f for f in outcome.figures if f.label.startswith(start))


def _blocks(model):
    """(M, N, output grid) of each separable block, from the module's own settings."""
    grid = 112  # after conv1's stride 2 on 224
    out = []
    for name, block in model.named_children():
        if not name.startswith("block"):
            continue
        depthwise, pointwise = block.depthwise.conv, block.pointwise.conv
        assert depthwise.groups == depthwise.in_channels
        grid //= depthwise.stride[0]
        out.append((depthwise.in_channels, pointwise.out_channels, grid))
    return out


def test_totals_against_the_whole_model_count(outcome, model):
    total = macs(count_flops(model, (1, 3, 224, 224)))
    params = sum(p.numel() for p in model.parameters())
    assert _figure(outcome, "MobileNet v1 (224×224) MACs").ours == total
    assert _figure(outcome, "MobileNet v1 parameters").ours == params == 4_231_976
    blocks = _blocks(model)
    assert len(blocks) == 13
    separable = sum(m * 9 * g * g + m * n * g * g for m, n, g in blocks)
    standard = sum(9 * m * n * g * g for m, n, g in blocks)
    assert _figure(outcome, "the same network with standard convs: MACs").ours == total - separable + standard
    # a standard block keeps the pointwise BN (2N) and drops the depthwise conv, its BN (2M) and the 1x1
    full_params = params - sum(9 * m + 2 * m + m * n for m, n, _ in blocks) + sum(9 * m * n for m, n, _ in blocks)
    assert _figure(outcome, "with standard convs: parameters").ours == full_params
    assert _figure(outcome, "standard ÷ separable").ours == round((total - separable + standard) / total, 2)


def test_every_block_ratio(outcome, model):
    rows = outcome.tables[0].rows
    for row, (m, n, g) in zip(rows, _blocks(model), strict=True):
        assert row[1] == f"{m}→{n}" and row[3] == f"{g}×{g}"
        assert row[4] == f"{m * 9 * g * g:,}" and row[5] == f"{m * n * g * g:,}" and row[6] == f"{9 * m * n * g * g:,}"
        assert row[7] == row[8] == f"{1 / n + 1 / 9:.4f}"
    assert float(_figure(outcome, "per block").ours) < 1e-9


def test_the_write_ups_example(outcome):
    assert _figure(outcome, "the write-ups' example").ours == f"{3 * 3 * 3 * 256:,} vs {3 * 3 * 1 * 3 + 3 * 256:,}"
    assert _figure(outcome, "the write-ups' example").ours == "6,912 vs 795"


def test_page_parts_and_links(outcome):
    assert lesson.LESSON.claim and lesson.LESSON.sources and lesson.LESSON.look_at
    assert lesson.LESSON.kind == "live" and lesson.LESSON.number == 10
    assert outcome.figures and outcome.verdict.startswith("Reproduced")
    for link in lesson.LESSON.links:
        assert named_graph(link.model)[0].find_node(link.node) is not None, link
    json.dumps(outcome.to_dict())  # the CLI prints it as JSON
