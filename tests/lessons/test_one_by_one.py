"""Lesson 2, 1x1 convolutions: inception 3a's parameters counted on the real module, its
MACs counted here with torch's flop counter, the module without reductions worked out from
the paper's widths, and the per-pixel matrix multiply."""

from __future__ import annotations

import json
import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from explorer.graph.stored import named_graph
from explorer.lessons import one_by_one as lesson
from explorer.models import get_model


@pytest.fixture(scope="module")
def outcome():
    lesson.demonstrate.cache_clear()
    start = time.perf_counter()
    result = lesson.demonstrate()
    print(f"1x1-convolutions demonstrate(): {time.perf_counter() - start:.3f} s")
    return result


@pytest.fixture(scope="module")
def module():
    with torch.device("meta"):
        return get_model("googlenet").inception3a.eval()


def _figure(outcome, start: str):
    return next(f for f in outcome.figures if f.label.startswith(start))


def test_as_built_matches_the_real_module(outcome, module):
    params = sum(p.numel() for p in module.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.zeros(1, 192, 28, 28, device="meta"))
    macs = counter.get_total_flops() // 2
    assert _figure(outcome, "inception 3a parameters").ours == params
    assert _figure(outcome, "inception 3a MACs").ours == macs
    assert _figure(outcome, "inception 3a widths").ours == "64, 96, 128, 16, 32, 32"
    table = outcome.tables[0]
    assert table.rows[0][1:] == (f"{params:,}", f"{macs:,}", 256)


def test_without_reductions_from_the_widths():
    c_in, grid = 192, 28 * 28
    # branch1 1x1 64; 3x3 128 and 5x5 32 reading all 192 channels; pool proj 32 (biases too)
    weights = c_in * 64 + c_in * 128 * 9 + c_in * 32 * 25 + c_in * 32
    biases = 64 + 128 + 32 + 32
    outcome = lesson.demonstrate()
    assert _figure(outcome, "without the 1×1 reductions: parameters").ours == weights + biases
    assert _figure(outcome, "without the 1×1 reductions: MACs").ours == weights * grid
    naive = c_in * 64 + c_in * 128 * 9 + c_in * 32 * 25
    assert outcome.tables[0].rows[2][1:] == (f"{naive + 64 + 128 + 32:,}", f"{naive * grid:,}", 64 + 128 + 32 + c_in)
    as_built = _figure(outcome, "inception 3a MACs").ours
    assert _figure(outcome, "MACs without reductions").ours == round(weights * grid / as_built, 2)


def test_one_by_one_is_a_per_pixel_matrix_multiply(outcome):
    difference = float(_figure(outcome, "1×1 conv vs a matrix multiply").ours)
    assert difference <= 1e-4
    row = outcome.tables[1].rows[0]
    assert row[0] == "googlenet_small" and row[2] == "48×7×7" and row[3] == "16×48"


def test_page_parts_and_links(outcome):
    assert lesson.LESSON.claim and lesson.LESSON.sources and lesson.LESSON.look_at
    assert lesson.LESSON.kind == "live" and lesson.LESSON.number == 2
    assert outcome.figures and outcome.verdict.startswith("Reproduced")
    for link in lesson.LESSON.links:
        assert named_graph(link.model)[0].find_node(link.node) is not None, link
    json.dumps(outcome.to_dict())  # the CLI prints it as JSON
