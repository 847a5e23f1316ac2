"""Lesson 1, stacked small kernels: the fields against an empirical measurement (a gradient
traced back through convs of VGG-16's shapes), the weights against VGG-16's own modules
counted here, and the lesson's page parts."""

from __future__ import annotations

import json
import time

import pytest
import torch
from torch import nn

from explorer.graph.stored import named_graph
from explorer.lessons import small_kernels as lesson
from explorer.models import get_model


@pytest.fixture(scope="module")
def outcome():
    lesson.demonstrate.cache_clear()
    start = time.perf_counter()
    result = lesson.demonstrate()
    print(f"small-kernels demonstrate(): {time.perf_counter() - start:.3f} s")
    return result


@pytest.fixture(scope="module")
def vgg():
    with torch.device("meta"):
        return get_model("vgg16")


def _figure(outcome, start: str):
    return next(f for f in outcome.figures if f.label.startswith(start))


def _table(outcome, start: str):
    return next(t for t in outcome.tables if t.title.startswith(start))


def _empirical_field(convs: list[nn.Conv2d], side: int = 21) -> int:
    """How many input pixels reach the centre output unit of a stack shaped like ``convs``
    (all-ones weights, no biases, no ReLU): the gradient's non-zero extent."""
    layers = [nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, padding=c.padding, bias=False) for c in convs]
    for layer in layers:
        nn.init.ones_(layer.weight)
    x = torch.zeros(1, convs[0].in_channels, side, side, requires_grad=True)
    y = nn.Sequential(*layers)(x)
    y[0, 0, side // 2, side // 2].backward()
    rows = (x.grad[0].abs().sum(dim=(0, 2)) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


def test_fields_match_an_empirical_measurement(outcome, vgg):
    # VGG-16's third stack: features.10, .12 and .14
    convs = [vgg.features[i] for i in (10, 12, 14)]
    measured = [_empirical_field(convs[: n + 1]) for n in range(3)]
    assert measured == [3, 5, 7]
    figure = _figure(outcome, "field of 1, 2, 3 stacked")
    assert figure.ours == ", ".join(map(str, measured)) == figure.paper
    rows = [r for r in _table(outcome, "VGG-16's stacks").rows if r[0] == "conv3"]
    assert [r[1] for r in rows] == ["features.10", "features.12", "features.14"]
    assert [r[2] for r in rows] == [f"{f}×{f}" for f in measured]


def test_weights_match_vgg16s_modules(outcome, vgg):
    conv5 = [vgg.features[i] for i in (24, 26, 28)]
    stack = sum(c.weight.numel() for c in conv5)
    c = conv5[0].in_channels
    assert stack == 27 * c * c
    single = 49 * c * c
    assert _figure(outcome, "weights of three 3×3 vs one 7×7").ours == "27C² vs 49C²"
    assert _figure(outcome, "extra weights").ours == round(100 * (single / stack - 1), 1)
    row = next(r for r in _table(outcome, "each VGG-16 stack").rows if r[0] == "conv5")
    assert row[3] == f"{stack:,}" and row[4] == f"{single:,}"
    # MACs on the 14x14 grid the stack runs on
    assert row[5] == f"{stack * 14 * 14:,}" and row[6] == f"{single * 14 * 14:,}"
    first = next(r for r in _table(outcome, "each VGG-16 stack").rows if r[0] == "conv1")
    assert first[3] == f"{vgg.features[0].weight.numel() + vgg.features[2].weight.numel():,}"
    assert first[4] == f"{25 * 3 * 64:,}"


def test_the_write_ups_example(outcome):
    rows = _table(outcome, "the write-ups' example").rows
    c = 64
    assert (c, "5×5", "5×5 → 1×1", 25 * c * c, "25C²", 1) in rows
    assert (c, "3×3 + 3×3", "5×5 → 3×3 → 1×1", 18 * c * c, "18C²", 2) in rows
    assert (c, "3×3 + 3×3 + 3×3", "7×7 → 5×5 → 3×3 → 1×1", 27 * c * c, "27C²", 3) in rows


def test_alexnet_conv1(outcome):
    with torch.device("meta"):
        conv1 = get_model("alexnet").features.conv1
    figure = _figure(outcome, "AlexNet conv1")
    assert figure.ours == f"{conv1.kernel_size[0]}×{conv1.kernel_size[1]}, stride {conv1.stride[0]}" == figure.paper


def test_page_parts_and_links(outcome):
    assert lesson.LESSON.claim and lesson.LESSON.sources and lesson.LESSON.look_at
    assert lesson.LESSON.kind == "live" and lesson.LESSON.number == 1
    assert outcome.figures and outcome.verdict.startswith("Reproduced")
    assert all(f.label for f in outcome.figures)
    for link in lesson.LESSON.links:
        assert named_graph(link.model)[0].find_node(link.node) is not None, link
    json.dumps(outcome.to_dict())  # the CLI prints it as JSON
