"""Lesson 5, augmentation: a quick run on the tiny generated data set, the augmented copies
checked against every flip and shift of their image, the outcome's numbers recomputed from the
raw result, and the run's stop and data errors."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from explorer.errors import UserError
from explorer.lessons import augmentation as lesson
from explorer.lessons.base import ExperimentStopped, Outcome
from tests.lessons.quick import quick_run

ON, OFF = lesson.arm_label(True), lesson.arm_label(False)


@pytest.fixture(scope="module")
def result(tiny_fashion_root, tmp_path_factory):
    return quick_run(lesson, tiny_fashion_root, tmp_path_factory)[0]


def _all_versions(image: np.ndarray, shift: int) -> list[np.ndarray]:
    """Every mirror and shift of ``image`` by up to ``shift`` pixels, zero-filled."""
    out = []
    padded_size = image.shape[0] + 2 * shift
    for flipped in (image, image[:, ::-1]):
        padded = np.zeros((padded_size, padded_size), dtype=image.dtype)
        padded[shift:-shift, shift:-shift] = flipped
        for dy in range(2 * shift + 1):
            for dx in range(2 * shift + 1):
                out.append(padded[dy:dy + image.shape[0], dx:dx + image.shape[1]])
    return out


def test_result_holds_both_arms(result):
    json.dumps(result)
    assert set(result["arms"]) == {ON, OFF}
    for label in (ON, OFF):
        curves = result["arms"][label]
        assert len(curves["train_acc"]) == len(curves["test_acc"]) == lesson.QUICK_EPOCHS
    assert result["configs"][ON]["augment"] is True and result["configs"][OFF]["augment"] is False
    assert result["configs"][ON]["shift"] == result["shift"] == lesson.SHIFT
    assert result["data"] == {"train": lesson.QUICK_IMAGES, "test": lesson.QUICK_IMAGES}


def test_samples_are_training_images_and_their_flips_and_shifts(result, tiny_fashion_root, monkeypatch):
    from explorer.lessons.training import lesson_data

    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tiny_fashion_root))
    data = lesson_data(lesson.QUICK_IMAGES)
    training = data.train_images.numpy()
    samples = result["samples"]
    assert len(samples) == lesson.SAMPLES and len({s["class"] for s in samples}) == lesson.SAMPLES
    for sample in samples:
        original = np.array(sample["original"], dtype=np.uint8)
        assert any(np.array_equal(original, image) for image in training)
        versions = _all_versions(original, result["shift"])
        assert len(sample["augmented"]) == lesson.COPIES
        for copy in sample["augmented"]:
            assert any(np.array_equal(np.array(copy, dtype=np.uint8), v) for v in versions)


def test_copies_per_image_counts_the_distinct_versions(result):
    rng = np.random.default_rng(0)
    image = np.zeros((28, 28), dtype=np.uint8)
    image[6:22, 6:22] = rng.integers(1, 255, size=(16, 16))  # no symmetry, away from the border
    distinct = {v.tobytes() for v in _all_versions(image, lesson.SHIFT)}
    assert lesson.copies_per_image(lesson.SHIFT) == len(distinct)


def test_figures_equal_values_computed_from_the_result(result):
    start = time.perf_counter()
    outcome = lesson.outcome(result)
    print(f"outcome: {time.perf_counter() - start:.3f} s")
    figures = {f.label: f.ours for f in outcome.figures}
    test = {label: 100.0 * result["arms"][label]["test_acc"][-1] for label in (ON, OFF)}
    gap = {label: 100.0 * result["train_acc_eval_mode"][label] - test[label] for label in (ON, OFF)}
    assert figures["final test accuracy, no augmentation"] == pytest.approx(round(test[OFF], 2))
    assert figures[f"final test accuracy, {ON}"] == pytest.approx(round(test[ON], 2))
    assert figures["test accuracy gained by augmentation"] == pytest.approx(round(test[ON] - test[OFF], 2))
    (no_augmentation_gap,) = [v for k, v in figures.items() if k.startswith("train - test accuracy at the end, no ")]
    assert no_augmentation_gap == pytest.approx(round(gap[OFF], 2))
    assert figures[f"train - test accuracy at the end, {ON}"] == pytest.approx(round(gap[ON], 2))
    assert figures[f"test loss at the end, {ON}"] == pytest.approx(round(result["arms"][ON]["test_loss"][-1], 3))
    assert outcome.verdict and outcome.charts and outcome.tables


def test_the_picture_holds_each_image_and_its_copies(result):
    (picture,) = lesson.outcome(result).images
    pixels = np.array(picture.pixels)
    scale, size = lesson.PICTURE_SCALE, 28
    first = result["samples"][0]
    assert np.array_equal(pixels[:size * scale:scale, :size * scale:scale], np.array(first["original"]))
    rows = len(result["samples"]) * size + (len(result["samples"]) - 1) * 2
    assert pixels.shape[0] == rows * scale and pixels.min() >= 0 and pixels.max() <= 255
    # the picture survives the stored form (Outcome.from_dict) unchanged
    again = Outcome.from_dict(json.loads(json.dumps(lesson.outcome(result).to_dict())))
    assert again.images[0].pixels == picture.pixels


def test_a_rerun_is_drawn_beside_the_shipped_result(result):
    outcome = lesson.outcome(result, rerun=result)
    for chart in outcome.charts:
        shipped = [s for s in chart.series if s.shipped]
        mine = [s for s in chart.series if not s.shipped]
        assert shipped and len(shipped) == len(mine)


def test_a_stop_request_stops_the_run(tiny_fashion_root, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tiny_fashion_root))
    with pytest.raises(ExperimentStopped):
        lesson.run(progress=lambda fraction, text: None, quick=True, should_stop=lambda: True)


def test_missing_data_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(UserError) as caught:
        lesson.run(progress=lambda fraction, text: None, quick=True)
    assert "\n" not in str(caught.value) and str(caught.value)
