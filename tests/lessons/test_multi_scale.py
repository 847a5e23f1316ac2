"""Lesson 13, multi-scale training: the global-pooling net at any size, the random-rescale
wrapper, the accuracy-by-size measurement, and the experiment's quick run on the tiny set."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from explorer.graph.stored import named_graph
from explorer.lessons import multi_scale as lesson
from explorer.lessons.base import ExperimentStopped, Outcome
from explorer.lessons.training import lesson_data
from explorer.models import FASHION_MNIST_MEAN, FASHION_MNIST_STD, get_model
from tests.lessons.quick import quick_run


@pytest.mark.parametrize("size", [20, 40])
def test_the_global_pooling_net_runs_at_any_size(size):
    model = get_model(lesson.MODEL).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, size, size)).shape == (2, 10)


def test_random_rescale_resizes_in_training_only():
    seen = []
    inner = torch.nn.Flatten()
    inner.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape[-2:])))
    wrapper = lesson.RandomRescale(inner, 20, 36, seed=1)
    x = torch.randn(4, 1, 28, 28)
    wrapper.train()
    for _ in range(40):
        wrapper(x)
    assert all(20 <= h == w <= 36 for h, w in seen)
    assert [h for h, _ in seen] == wrapper.sizes and len(set(wrapper.sizes)) > 5
    seen.clear()
    wrapper.eval()
    wrapper(x)
    assert seen == [(28, 28)]


def test_accuracy_by_size_against_a_hand_made_pass(tiny_fashion_root):
    data = lesson_data(64, data_dir=tiny_fashion_root)
    torch.manual_seed(0)
    model = get_model(lesson.MODEL).eval()
    sizes = (20, 40)
    measured = lesson.accuracy_by_size(model, data, sizes, lambda: False)
    for size, value in zip(sizes, measured, strict=True):
        x = (data.test_images.float().unsqueeze(1) / 255 - FASHION_MNIST_MEAN[0]) / FASHION_MNIST_STD[0]
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        with torch.no_grad():
            right = (model(x).argmax(1) == data.test_labels).float().mean().item()
        assert value == pytest.approx(right, abs=1e-6)


@pytest.fixture(scope="module")
def result(tiny_fashion_root, tmp_path_factory):
    raw, fractions = quick_run(lesson, tiny_fashion_root, tmp_path_factory)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    return raw


def test_both_arms_and_every_size(result):
    labels = [lesson.arm_label(True), lesson.arm_label(False)]
    assert sorted(result["arms"]) == sorted(labels) == sorted(result["test_acc_by_size"])
    for label in labels:
        assert result["arms"][label]["epoch"] == [1]
        assert len(result["test_acc_by_size"][label]) == len(result["test_sizes"]) == 6
    drawn = result["batch_sizes_drawn"]
    assert sum(drawn.values()) == result["arms"][labels[0]]["steps"][-1]
    assert all(20 <= int(size) <= 36 for size in drawn)
    json.dumps(result)


def test_figures_recomputed_from_the_result(result):
    out = lesson.outcome(result)
    figures = {f.label: f for f in out.figures}
    index = result["test_sizes"].index(28)
    for multi in (True, False):
        label = lesson.arm_label(multi)
        values = result["test_acc_by_size"][label]
        assert figures[f"test accuracy at 28 px, {label}"].ours == round(100 * values[index], 2)
        assert figures[f"mean test accuracy over 20-40 px, {label}"].ours == round(100 * sum(values) / 6, 2)
    series = out.charts[0].series[0]
    assert series.x == (20.0, 24.0, 28.0, 32.0, 36.0, 40.0)
    assert series.y == tuple(100 * a for a in result["test_acc_by_size"][series.name])
    assert out.verdict
    assert lesson.outcome(json.loads(json.dumps(result))) == out
    assert Outcome.from_dict(out.to_dict()) == out


def test_rerun_draws_the_shipped_curves_too(result):
    series = lesson.outcome(result, rerun=result).charts[0].series
    assert [s.shipped for s in series] == [True, True, False, False]
    assert all(s.name.endswith("(shipped)") for s in series if s.shipped)


def test_stopping_raises(tiny_fashion_root, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tiny_fashion_root))
    with pytest.raises(ExperimentStopped):
        lesson.run(lambda _f, _t: None, quick=True, should_stop=lambda: True)


def test_stopping_while_testing_raises(tiny_fashion_root):
    data = lesson_data(64, data_dir=tiny_fashion_root)
    with pytest.raises(ExperimentStopped):
        lesson.accuracy_by_size(get_model(lesson.MODEL), data, (20,), lambda: True)


def test_lesson_entry_and_links():
    entry = lesson.LESSON
    assert entry.number == 13 and entry.name == "multi-scale-training" and entry.kind == "experiment"
    assert entry.claim and "§6" in str(entry.sources[0])
    assert 0 < entry.experiment.budget_s <= 600
    for link in entry.links:
        assert link.model == lesson.MODEL
        if link.node is not None:
            assert named_graph(link.model)[0].find_node(link.node) is not None, link
