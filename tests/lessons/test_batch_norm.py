"""Lesson 7, batch normalisation: a quick run on the tiny generated data set, Fig. 3's step
counts recomputed from the raw result, a failed arm, and the run's stop and data errors."""

from __future__ import annotations

import copy
import json
import time

import pytest

from explorer.errors import UserError
from explorer.lessons import batch_norm as lesson
from explorer.lessons.base import ExperimentStopped
from tests.lessons.quick import quick_run

LABELS = [lesson.arm_label(bn, factor) for bn, factor in lesson.ARMS]
PLAIN, BN, BN5, PLAIN5 = LABELS


@pytest.fixture(scope="module")
def result(tiny_fashion_root, tmp_path_factory):
    raw, seen = quick_run(lesson, tiny_fashion_root, tmp_path_factory)
    assert seen == sorted(seen) and seen[-1] == 1.0
    return raw


def _synthetic(result: dict, accuracies: dict[str, list[float]]) -> dict:
    """The quick result with its test accuracies replaced by three epochs of ``accuracies``."""
    fake = copy.deepcopy(result)
    for label, acc in accuracies.items():
        fake["arms"][label].update(epoch=[1, 2, 3], steps=[10, 20, 30], test_acc=acc)
    return fake


def test_result_holds_every_arm(result):
    json.dumps(result)
    assert set(result["arms"]) | set(result["failed"]) == set(LABELS)
    for label in result["arms"]:
        curves = result["arms"][label]
        assert len(curves["test_acc"]) == len(curves["steps"]) == lesson.QUICK_EPOCHS
        assert len(curves["batch_loss"]) == curves["steps"][-1]
    configs = result["configs"]
    assert configs[PLAIN]["batch_norm"] is False and configs[BN]["batch_norm"] is True
    assert configs[BN5]["lr"] == pytest.approx(lesson.HIGHER_LR * configs[BN]["lr"])
    assert configs[PLAIN5]["lr"] == pytest.approx(lesson.HIGHER_LR * configs[PLAIN]["lr"])
    assert len({c["seed"] for c in configs.values()}) == 1


def test_figures_equal_values_computed_from_the_result(result):
    start = time.perf_counter()
    outcome = lesson.outcome(result)
    print(f"outcome: {time.perf_counter() - start:.3f} s")
    figures = {f.label: f.ours for f in outcome.figures}
    plain = result["arms"][PLAIN]
    goal = max(plain["test_acc"])
    base_steps = plain["steps"][plain["test_acc"].index(goal)]
    assert figures["target: best test accuracy of the net without BN"] == pytest.approx(round(100 * goal, 2))
    assert figures["steps the net without BN took to reach it"] == base_steps
    for label in (BN, BN5):
        reached = [s for s, a in zip(result["arms"][label]["steps"], result["arms"][label]["test_acc"],
                                     strict=True) if a >= goal]
        shown = next(f.ours for f in outcome.figures if f.label.startswith(f"fewer steps to the target: {label}"))
        assert shown == (pytest.approx(round(base_steps / reached[0], 2)) if reached else "not reached")
        best = 100 * max(result["arms"][label]["test_acc"])
        assert figures[f"best test accuracy, {label}"] == pytest.approx(round(best, 2))
    for label in result["arms"]:
        first = 100 * result["arms"][label]["test_acc"][0]
        assert figures[f"test accuracy after the first epoch, {label}"] == pytest.approx(round(first, 2))
    assert outcome.verdict and len(outcome.tables) == 2


def test_fig3_measure_on_known_curves(result):
    fake = _synthetic(result, {PLAIN: [0.5, 0.7, 0.8], BN: [0.6, 0.8, 0.85], BN5: [0.8, 0.82, 0.86],
                               PLAIN5: [0.1, 0.1, 0.1]})
    assert lesson.target(fake) == 0.8
    assert lesson.steps_to(fake, PLAIN, 0.8) == 30 and lesson.steps_to(fake, BN, 0.8) == 20
    assert lesson.steps_to(fake, BN5, 0.8) == 10 and lesson.steps_to(fake, PLAIN5, 0.8) is None
    outcome = lesson.outcome(fake)
    figures = {f.label: f.ours for f in outcome.figures}
    assert figures[f"fewer steps to the target: {BN}, the same lr"] == pytest.approx(1.5)
    assert figures[f"fewer steps to the target: {BN5}"] == pytest.approx(3.0)
    assert figures[f"fewer steps to the target: {PLAIN5}"] == "not reached"
    assert outcome.verdict.startswith("Reproduced")


def test_an_arm_the_trainer_stopped_is_shown_as_stopped(result):
    fake = _synthetic(result, {PLAIN: [0.5, 0.7, 0.8], BN: [0.6, 0.8, 0.85], BN5: [0.8, 0.82, 0.86]})
    del fake["arms"][PLAIN5]
    fake["failed"] = {PLAIN5: "training diverged: the loss became nan at step 3; lower the learning rate"}
    outcome = lesson.outcome(fake)
    assert {f.label: f.ours for f in outcome.figures}[f"fewer steps to the target: {PLAIN5}"] == "stopped (diverged)"
    assert "did not train" in outcome.verdict
    assert any("became nan" in note for note in outcome.notes)
    assert not any(series.name.startswith(PLAIN5) for chart in outcome.charts for series in chart.series)


def test_a_stopped_baseline_leaves_nothing_to_time(result):
    fake = copy.deepcopy(result)
    del fake["arms"][PLAIN]
    fake["failed"] = {PLAIN: "training diverged: accuracy is still at chance"}
    outcome = lesson.outcome(fake)
    assert outcome.verdict.startswith("No measure") and "still at chance" in outcome.verdict


def test_a_rerun_is_drawn_beside_the_shipped_result(result):
    outcome = lesson.outcome(result, rerun=result)
    for chart in outcome.charts:
        shipped = [s for s in chart.series if s.shipped]
        mine = [s for s in chart.series if not s.shipped and not s.name.startswith("target")]
        assert shipped and len(shipped) == len(mine) == len(result["arms"])


def test_a_stop_request_stops_the_run(tiny_fashion_root, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tiny_fashion_root))
    with pytest.raises(ExperimentStopped):
        lesson.run(progress=lambda fraction, text: None, quick=True, should_stop=lambda: True)


def test_missing_data_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(UserError) as caught:
        lesson.run(progress=lambda fraction, text: None, quick=True)
    assert "\n" not in str(caught.value) and str(caught.value)
