"""Lesson 8, auxiliary classifiers: googlenet_small's heads and the paper's weight, and the
experiment's quick run on the tiny data set (gradient norms per layer, both arms)."""

from __future__ import annotations

import json
import math

import pytest

from explorer.graph.stored import named_graph
from explorer.lessons import aux_classifiers as lesson
from explorer.lessons.base import ExperimentStopped, Outcome
from explorer.models import get_model_info
from explorer.train.config import TrainConfig
from tests.lessons.quick import quick_run


def test_the_model_has_two_heads_and_the_papers_weight():
    assert get_model_info(lesson.MODEL).aux_heads == 2
    assert TrainConfig().aux_weight == 0.3 == lesson.AUX_WEIGHTS[0]
    assert lesson.AUX_WEIGHTS[1] == 0


@pytest.fixture(scope="module")
def result(tiny_fashion_root, tmp_path_factory):
    return quick_run(lesson, tiny_fashion_root, tmp_path_factory)[0]


def _arm(result, weight):
    return result["arms"][lesson.arm_label(weight)]


def test_both_arms_with_gradient_norms(result):
    assert sorted(result["arms"]) == sorted(lesson.arm_label(w) for w in (0.3, 0.0))
    for weight in (0.3, 0.0):
        curves = _arm(result, weight)
        assert curves["epoch"] == [1] and len(curves["test_acc"]) == 1
        for name in ("conv1.conv.weight", "inception3a.branch1.conv.weight", "inception3b.branch4.1.conv.weight",
                     "aux1.fc2.weight", "fc.weight"):
            assert len(curves["grad_norm"][name]) == 1
    # Weight 0 leaves the heads without gradient; weight 0.3 trains them.
    assert _arm(result, 0.0)["grad_norm"]["aux1.fc2.weight"] == [0.0]
    assert _arm(result, 0.3)["grad_norm"]["aux1.fc2.weight"][0] > 0
    json.dumps(result)


def _group(grad_norm, prefixes):
    names = [n for n in grad_norm if n.endswith("weight") and n.split(".")[0] in prefixes]
    return math.sqrt(sum(grad_norm[n][-1] ** 2 for n in names))


def test_figures_recomputed_from_the_result(result):
    out = lesson.outcome(result)
    figures = {f.label: f for f in out.figures}
    early = ("conv1", "conv2", "conv3", "inception3a", "inception3b")
    ratio = _group(_arm(result, 0.3)["grad_norm"], early) / _group(_arm(result, 0.0)["grad_norm"], early)
    assert figures["early-layer gradient norm, aux 0.3 / aux 0, epoch 1"].ours == round(ratio, 3)
    late = ("inception5a", "inception5b", "fc")
    late_ratio = _group(_arm(result, 0.3)["grad_norm"], late) / _group(_arm(result, 0.0)["grad_norm"], late)
    assert figures["late-layer gradient norm (5a, 5b, fc), aux 0.3 / aux 0, epoch 1"].ours == round(late_ratio, 3)
    acc = {w: 100 * _arm(result, w)["test_acc"][-1] for w in (0.3, 0.0)}
    assert figures["main head test accuracy, aux 0.3"].ours == round(acc[0.3], 2)
    assert figures["main head test accuracy, aux 0"].ours == round(acc[0.0], 2)
    assert figures["test accuracy after epoch 1, aux 0.3 minus aux 0"].ours == round(acc[0.3] - acc[0.0], 2)
    conv1 = out.tables[0].rows[0]
    assert conv1[0] == "conv1" and conv1[1] == round(
        _arm(result, 0.3)["grad_norm"]["conv1.conv.weight"][0] / _arm(result, 0.0)["grad_norm"]["conv1.conv.weight"][0],
        3)
    assert out.verdict and "gradient" in out.verdict
    assert lesson.outcome(json.loads(json.dumps(result))) == out
    assert Outcome.from_dict(out.to_dict()) == out


def test_rerun_draws_the_shipped_curves_too(result):
    out = lesson.outcome(result, rerun=result)
    for chart in out.charts:
        shipped = [s for s in chart.series if s.shipped]
        assert shipped and len(shipped) * 2 == len(chart.series)
        assert all(s.name.endswith("(shipped)") for s in shipped)


def test_stopping_raises(tiny_fashion_root, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tiny_fashion_root))
    with pytest.raises(ExperimentStopped):
        lesson.run(lambda _f, _t: None, quick=True, should_stop=lambda: True)


def test_lesson_entry_and_links():
    entry = lesson.LESSON
    assert entry.number == 8 and entry.name == "auxiliary-classifiers" and entry.kind == "experiment"
    assert entry.claim and "§5" in str(entry.sources[0]) and "§4" in str(entry.sources[1])
    assert 0 < entry.experiment.budget_s <= 600
    views = {link.view for link in entry.links}
    assert {"graph", "timemachine"} <= views
    for link in entry.links:
        assert link.model == lesson.MODEL
        if link.node is not None:
            graph = named_graph(link.model)[0]
            node = graph.find_node(link.node)
            assert node is not None and graph.node(node).get("aux"), link
