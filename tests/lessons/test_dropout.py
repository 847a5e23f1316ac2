"""Lesson 4, dropout: a quick run on the tiny generated data set, its outcome's numbers
recomputed from the raw result and from the real modules, and the run's stop and data errors."""

from __future__ import annotations

import json
import time

import pytest
from torch import nn

from explorer.errors import UserError
from explorer.lessons import dropout as lesson
from explorer.lessons.base import ExperimentStopped
from explorer.models import get_model
from tests.lessons.quick import quick_run

ON, OFF = lesson.arm_label(True), lesson.arm_label(False)


@pytest.fixture(scope="module")
def result(tiny_fashion_root, tmp_path_factory):
    raw, seen = quick_run(lesson, tiny_fashion_root, tmp_path_factory)
    assert seen and seen[-1] == 1.0
    return raw


def test_result_holds_both_arms(result):
    json.dumps(result)  # plain data
    assert set(result["arms"]) == {ON, OFF}
    for label in (ON, OFF):
        curves = result["arms"][label]
        assert len(curves["train_acc"]) == len(curves["test_acc"]) == len(curves["epoch"]) == lesson.QUICK_EPOCHS
        assert curves["batch_loss"] and 0.0 <= result["train_acc_eval_mode"][label] <= 1.0
    assert result["configs"][ON]["dropout"] == lesson.P and result["configs"][OFF]["dropout"] == 0.0
    assert result["configs"][ON]["seed"] == result["configs"][OFF]["seed"] == result["seed"]
    assert result["data"] == {"train": lesson.QUICK_IMAGES, "test": lesson.QUICK_IMAGES}
    assert result["quick"] is True


def _starting(figures: dict, prefix: str):
    """The value of the one figure whose label starts with ``prefix``."""
    (value,) = [ours for label, ours in figures.items() if label.startswith(prefix)]
    return value


def _fc_share(name: str) -> float:
    model = get_model(name)
    fc = sum(p.numel() for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters())
    return 100.0 * fc / sum(p.numel() for p in model.parameters())


def test_figures_equal_values_computed_from_the_result(result):
    start = time.perf_counter()
    outcome = lesson.outcome(result)
    print(f"outcome: {time.perf_counter() - start:.3f} s")
    figures = {f.label: f.ours for f in outcome.figures}
    test = {label: 100.0 * result["arms"][label]["test_acc"][-1] for label in (ON, OFF)}
    gap = {label: 100.0 * result["train_acc_eval_mode"][label] - test[label] for label in (ON, OFF)}
    assert figures["final test accuracy, no dropout"] == pytest.approx(round(test[OFF], 2))
    assert figures[f"final test accuracy, dropout {lesson.P:g}"] == pytest.approx(round(test[ON], 2))
    assert _starting(figures, "test accuracy gained by dropout") == pytest.approx(round(test[ON] - test[OFF], 2))
    assert _starting(figures, "train - test accuracy at the end, no dropout") == pytest.approx(round(gap[OFF], 2))
    assert figures[f"train - test accuracy at the end, dropout {lesson.P:g}"] == pytest.approx(round(gap[ON], 2))
    assert figures["test loss at the end, no dropout"] == pytest.approx(round(result["arms"][OFF]["test_loss"][-1], 3))
    assert figures["share of parameters in the FC layers, AlexNet (paper's net)"] == pytest.approx(
        round(_fc_share("alexnet"), 1))
    assert figures["share of parameters in the FC layers, alexnet_small"] == pytest.approx(
        round(_fc_share("alexnet_small"), 1))
    assert outcome.verdict and all(f.label for f in outcome.figures)
    assert outcome.charts and all(s.y for chart in outcome.charts for s in chart.series)
    assert not any(s.shipped for chart in outcome.charts for s in chart.series)


def test_convergence_steps_are_the_first_epoch_over_the_threshold(result):
    fake = json.loads(json.dumps(result))
    for label, train in ((ON, [0.5, 0.9, 0.96]), (OFF, [0.7, 0.95, 0.99])):
        fake["arms"][label].update(epoch=[1, 2, 3], steps=[10, 20, 30], train_acc=train, test_acc=[0.6, 0.7, 0.8])
    assert lesson.steps_to_converge(fake, ON) == 30 and lesson.steps_to_converge(fake, OFF) == 20
    ratio = next(f.ours for f in lesson.outcome(fake).figures if f.label.startswith("steps to"))
    assert ratio == pytest.approx(1.5)
    fake["arms"][ON]["train_acc"] = [0.5, 0.6, 0.7]
    assert lesson.steps_to_converge(fake, ON) is None
    assert "never reached" in lesson.outcome(fake).verdict


def test_a_rerun_is_drawn_beside_the_shipped_result(result):
    outcome = lesson.outcome(result, rerun=result)
    for chart in outcome.charts:
        shipped = [s for s in chart.series if s.shipped]
        mine = [s for s in chart.series if not s.shipped]
        assert shipped and len(shipped) == len(mine)
        assert [s.y for s in shipped] == [s.y for s in mine]


def test_a_stop_request_stops_the_run(tiny_fashion_root, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tiny_fashion_root))
    with pytest.raises(ExperimentStopped):
        lesson.run(progress=lambda fraction, text: None, quick=True, should_stop=lambda: True)


def test_missing_data_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(UserError) as caught:
        lesson.run(progress=lambda fraction, text: None, quick=True)
    assert "\n" not in str(caught.value) and str(caught.value)
