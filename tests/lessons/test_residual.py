"""Lesson 6, residual learning: the §4.2 CIFAR nets against Table 6's parameter counts, plain
against residual, and the experiment's quick run on the tiny data set."""

from __future__ import annotations

import json

import pytest
import torch

from explorer.graph.stored import named_graph
from explorer.lessons import residual as lesson
from explorer.lessons.base import ExperimentStopped, Outcome
from explorer.lessons.cifar_nets import (
    PAPER_PARAMS,
    ZeroPadShortcut,
    cifar_net,
    weighted_layers,
)
from tests.lessons.quick import quick_run


def _expected_params(depth: int, in_channels: int) -> int:
    """The §4.2 net's parameters worked out by hand: 3x3 convs without bias, BN (scale and
    shift) after each, FC 64 -> 10 with bias; option A shortcuts have none."""
    n = (depth - 2) // 6
    total = 9 * in_channels * 16 + 2 * 16
    previous = 16
    for width in (16, 32, 64):
        for _ in range(n):
            total += 9 * previous * width + 2 * width + 9 * width * width + 2 * width
            previous = width
    return total + 64 * 10 + 10


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth", sorted(PAPER_PARAMS))
def test_parameter_counts_match_table_6(depth):
    model = cifar_net(depth, residual=True, in_channels=3)
    assert _count(model) == _expected_params(depth, 3)
    # Table 6 gives two significant figures (0.27M, 0.85M, 1.7M).
    assert abs(_count(model) - PAPER_PARAMS[depth]) / PAPER_PARAMS[depth] < 0.03
    assert weighted_layers(model) == depth


def test_resnet_20_and_56_exactly():
    assert _count(cifar_net(20, residual=True, in_channels=3)) == 269_722
    assert _count(cifar_net(56, residual=True, in_channels=3)) == 853_018
    assert _count(cifar_net(20, residual=True)) == 269_434  # one input channel: 9 x 16 fewer weights x 2


@pytest.mark.parametrize("depth", [20, 56])
def test_plain_net_is_the_resnet_without_shortcuts(depth):
    plain, residual = cifar_net(depth, residual=False), cifar_net(depth, residual=True)
    # Option A: identical parameters, name for name; only the forward pass differs.
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in residual.state_dict().items()}
    residual.load_state_dict(plain.state_dict())
    x = torch.randn(2, 1, 28, 28)
    plain.eval(), residual.eval()
    with torch.no_grad():
        assert not torch.allclose(plain(x), residual(x))


def test_forward_on_fashion_mnist_and_the_stage_grids():
    model = cifar_net(20, residual=True).eval()
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        stem = model.relu(model.bn1(model.conv1(x)))
        grids = []
        for stage in (model.layer1, model.layer2, model.layer3):
            stem = stage(stem)
            grids.append(tuple(stem.shape[1:]))
        assert grids == [(16, 28, 28), (32, 14, 14), (64, 7, 7)]
        assert model(x).shape == (3, 10)


def test_option_a_pads_with_zero_channels():
    x = torch.randn(2, 16, 14, 14)
    out = ZeroPadShortcut(16, 32, 2)(x)
    assert out.shape == (2, 32, 7, 7)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2])
    assert not out[:, 16:].any()


@pytest.fixture(scope="module")
def result(tiny_fashion_root, tmp_path_factory):
    raw, fractions = quick_run(lesson, tiny_fashion_root, tmp_path_factory)
    assert fractions and fractions[-1] == 1.0
    return raw


def test_quick_run_has_every_arm(result):
    assert result["quick"] and result["shortcut"] == "A"
    labels = [f"{kind}-{depth}" for kind in ("plain", "ResNet") for depth in lesson.QUICK_DEPTHS]
    assert sorted(result["arms"]) == sorted(labels)
    for label in labels:
        curves = result["arms"][label]
        assert curves["epoch"] == [1]
        assert len(curves["train_acc"]) == 1 and len(curves["batch_loss"]) == curves["steps"][-1]
    assert result["data"]["train"] == lesson.QUICK_TRAIN_IMAGES
    assert result["config"]["lr"] == 0.1 and result["config"]["momentum"] == 0.9
    json.dumps(result)  # plain JSON data


def test_figures_recomputed_from_the_result(result):
    out = lesson.outcome(result)
    shallow, deep = lesson.QUICK_DEPTHS
    figures = {f.label: f for f in out.figures}
    errors = {label: 100 * (1 - result["arms"][label]["train_acc"][-1]) for label in result["arms"]}
    for label, error in errors.items():
        assert figures[f"final training error, {label}"].ours == round(error, 2)
    assert figures[f"plain-{deep} minus plain-{shallow}, final training error"].ours == round(
        errors[f"plain-{deep}"] - errors[f"plain-{shallow}"], 2)
    assert figures[f"ResNet-{deep} minus ResNet-{shallow}, final training error"].ours == round(
        errors[f"ResNet-{deep}"] - errors[f"ResNet-{shallow}"], 2)
    for depth in (shallow, deep):
        assert figures[f"parameters, ResNet-{depth} (option A, 1 input channel)"].ours == _expected_params(depth, 1)
    assert out.verdict and f"plain-{deep}" in out.verdict
    curve = out.charts[0].series[0]
    assert curve.y == (100 * (1 - result["arms"][curve.name]["train_acc"][0]),)
    # The stored document is JSON: the outcome of the round-tripped result is the same.
    assert lesson.outcome(json.loads(json.dumps(result))) == out
    assert Outcome.from_dict(out.to_dict()) == out


def test_rerun_draws_the_shipped_curves_too(result):
    out = lesson.outcome(result, rerun=result)
    for chart in out.charts:
        shipped = [s for s in chart.series if s.shipped]
        own = [s for s in chart.series if not s.shipped]
        assert len(shipped) == len(own) == 4
        assert all(s.name.endswith("(shipped)") for s in shipped)


def test_stopping_raises(tiny_fashion_root, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tiny_fashion_root))
    with pytest.raises(ExperimentStopped):
        lesson.run(lambda _f, _t: None, quick=True, should_stop=lambda: True)


def test_lesson_entry_and_links():
    entry = lesson.LESSON
    assert entry.number == 6 and entry.name == "residual-learning" and entry.kind == "experiment"
    assert entry.claim and entry.sources and "§4.2" in str(entry.sources[0])
    assert entry.experiment.command == "cnn-explorer lessons run residual-learning"
    assert 0 < entry.experiment.budget_s <= 600
    for link in entry.links:
        if link.node is not None:
            assert named_graph(link.model)[0].find_node(link.node) is not None, link
