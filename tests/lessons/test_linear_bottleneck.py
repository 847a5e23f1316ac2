"""Lesson 11, linear bottlenecks: the spiral's numbers recomputed independently, and the
blocks of the real mobilenet_v2 against the module itself."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual

from explorer.graph.stored import named_graph
from explorer.lessons import linear_bottleneck as lesson
from explorer.models import get_model


def _projection_error(x: np.ndarray, t: np.ndarray) -> float:
    """Mean ||x - T+ReLU(Tx)|| over the points, T+ h as the least-squares solution of T y = h."""
    h = np.maximum(t @ x.T, 0.0)
    y = np.linalg.lstsq(t, h, rcond=None)[0].T
    return float(np.mean([np.linalg.norm(a - b) for a, b in zip(x, y, strict=True)]))


def test_spiral_is_the_input_manifold():
    x = lesson.spiral()
    radius = np.linalg.norm(x, axis=1)
    assert x.shape == (lesson.POINTS, 2)
    assert radius.max() == pytest.approx(1.0)
    assert radius.min() > 0  # the origin is left out
    assert np.all(np.diff(radius) > 0)  # in order along the spiral


@pytest.mark.parametrize("n", [2, 30])
def test_projection_error_recomputed(n):
    x = lesson.spiral()
    scale = np.mean([np.linalg.norm(p) for p in x])
    errors = [_projection_error(x, np.random.default_rng(seed).standard_normal((n, 2))) / scale
              for seed in range(lesson.MATRICES)]
    measured = lesson.spiral_measures()[n]
    assert measured["projection_error"] == pytest.approx(float(np.median(errors)), rel=1e-9)
    assert measured["projection_error_min"] == pytest.approx(min(errors), rel=1e-9)
    assert measured["projection_error_max"] == pytest.approx(max(errors), rel=1e-9)


@pytest.mark.parametrize("n", [3, 5])
def test_collapsed_and_zeroed_shares_recomputed(n):
    x = lesson.spiral()
    collapsed, zeroed = [], []
    for seed in range(lesson.MATRICES):
        t = np.random.default_rng(seed).standard_normal((n, 2))
        survivors = [sum(float(row @ p) > 0 for row in t) for p in x]
        collapsed.append(sum(s < 2 for s in survivors) / len(x))
        zeroed.append(sum(n - s for s in survivors) / (n * len(x)))
    measured = lesson.spiral_measures()[n]
    assert measured["collapsed"] == pytest.approx(float(np.median(collapsed)))
    assert measured["zeroed"] == pytest.approx(float(np.median(zeroed)))


@pytest.mark.parametrize("n", [2, 3, 15])
def test_decoder_solves_from_the_surviving_coordinates(n):
    x = lesson.spiral()
    t = lesson.embedding(n, 3)
    decoded = lesson.surviving_decoder(x, t)
    for point, got in zip(x, decoded, strict=True):
        h = np.maximum(t @ point, 0.0)
        rows = h > 0
        want = np.linalg.lstsq(t[rows], h[rows], rcond=None)[0] if rows.any() else np.zeros(2)
        np.testing.assert_allclose(got, want, atol=1e-9)
        if rows.sum() >= 2:
            np.testing.assert_allclose(got, point, atol=1e-9)  # nothing lost there


def test_wider_keeps_more():
    measured = lesson.spiral_measures()
    assert measured[30]["projection_error"] < measured[2]["projection_error"]
    assert measured[30]["collapsed"] < measured[3]["collapsed"] < measured[2]["collapsed"]
    assert measured[30]["decoder_error"] < 1e-9 < measured[2]["decoder_error"]


def test_blocks_match_the_real_module():
    with torch.device("meta"):
        model = get_model("mobilenet_v2")
    want = []
    for path, block in model.named_modules():
        if not isinstance(block, InvertedResidual):
            continue
        convs = [m for m in block.conv.modules() if isinstance(m, nn.Conv2d)]
        depthwise = next(m for m in convs if m.groups > 1)
        want.append((path, convs[0].in_channels, depthwise.out_channels, convs[-1].out_channels,
                     depthwise.stride[0], block.use_res_connect))
        # The module's own order: nothing but the BN follows the projection conv.
        children = list(block.conv.children())
        assert isinstance(children[-2], nn.Conv2d) and isinstance(children[-1], nn.BatchNorm2d)
    got = [(b["block"], b["in"], b["expanded"], b["out"], b["stride"], b["shortcut"])
           for b in lesson.bottleneck_blocks()]
    assert got == want
    assert len(got) == lesson.PAPER_BLOCKS


def test_no_activation_after_any_projection_in_the_graph():
    graph, _ = named_graph("mobilenet_v2")
    for block in lesson.bottleneck_blocks():
        node = graph.find_node(block["projection"])
        assert node is not None
        (bn,) = graph.graph.successors(node)
        assert graph.node(bn)["category"] == "norm"
        after = {graph.node(s)["category"] for s in graph.graph.successors(bn)}
        assert "activation" not in after
        assert {c for _, c in block["after"]} == after
        assert ("activation" in {c for _, c in block["after_depthwise"]})


def test_outcome_and_lesson():
    lesson.spiral_measures.cache_clear()
    lesson.bottleneck_blocks.cache_clear()
    start = time.perf_counter()
    outcome = lesson.demonstrate()
    print(f"linear-bottlenecks demonstrate: {1000 * (time.perf_counter() - start):.0f} ms")
    start = time.perf_counter()
    lesson.demonstrate()
    print(f"linear-bottlenecks demonstrate (cached): {1000 * (time.perf_counter() - start):.1f} ms")
    measured = lesson.spiral_measures()
    assert outcome.verdict and outcome.figures and outcome.notes
    by_label = {f.label: f for f in outcome.figures}
    for n in lesson.DIMENSIONS:
        figure = next(f for label, f in by_label.items() if label.startswith(f"n = {n}: spiral points collapsed"))
        assert figure.ours == round(100 * measured[n]["collapsed"], 1)
    assert by_label["inverted residual blocks in mobilenet_v2"].ours == 17
    assert by_label["projections followed by an activation"].ours == 0
    assert f"{measured[2]['projection_error']:.2f}" in outcome.verdict
    spirals = outcome.charts[0]
    assert [s.name for s in spirals.series] == ["input", *(f"n = {n}" for n in lesson.DIMENSIONS)]
    x = lesson.spiral()
    t = np.random.default_rng(0).standard_normal((15, 2))
    recovered = np.linalg.lstsq(t, np.maximum(t @ x.T, 0.0), rcond=None)[0].T
    series = spirals.series[1 + lesson.DIMENSIONS.index(15)]
    np.testing.assert_allclose(np.column_stack([series.x, series.y]), recovered, atol=1e-9)
    L = lesson.LESSON
    assert (L.name, L.number, L.kind) == ("linear-bottlenecks", 11, "live")
    assert L.claim and L.sources and "MobileNet v2" in str(L.sources[0]) and L.look_at


@pytest.mark.parametrize("link", lesson.LESSON.links, ids=lambda link: f"{link.view}-{link.model}")
def test_links_name_real_nodes(link):
    graph, _ = named_graph(link.model)
    assert graph.find_node(link.node) is not None
    assert graph.node(graph.find_node(link.node))["category"] == "conv"
