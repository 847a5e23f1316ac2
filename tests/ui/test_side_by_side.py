"""Side by side: both panes step together through matching stages, the difference of
equally shaped maps, and each pane's weights chosen on its own."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from explorer.session import Session, WeightsChoice
from explorer.ui.compare.side_by_side import SideBySideView


@pytest.fixture
def side_by_side(qtbot):
    made = []

    def make(a: str, b: str) -> SideBySideView:
        view = SideBySideView(Session())
        qtbot.addWidget(view)
        view.resize(1200, 650)
        view.start(a, b)
        view.show()
        made.append(view)
        settle(qtbot, view)
        return view

    yield make
    for view in made:
        view.stop()


def settle(qtbot, view) -> None:
    try:
        qtbot.waitUntil(lambda: bool(view.pairs) and not view.busy, timeout=60_000)
    except Exception:
        states = [(p.session.model_name, p.session.weights, p.session.module is not None, p.builder.busy,
                   p.job.busy, p.features is not None, p.status.text()) for p in view.panes.values()]
        raise AssertionError(f"side by side never settled: {states}") from None


def test_stepping_moves_both_panes_to_matching_stages(side_by_side, qtbot):
    from explorer.compare import compare, load_subject

    view = side_by_side("resnet18_small", "vgg11_small")
    a, b = view.panes["A"], view.panes["B"]
    expected = compare(load_subject("resnet18_small"), load_subject("vgg11_small"), a.session.image.image)
    assert [(x[0], y[0]) for x, y in view.pairs] == [(s["a_stage"], s["b_stage"]) for s in expected["stages"]]
    assert view.index == 0 and not view.prev_button.isEnabled()
    seen = []
    for i, stage in enumerate(expected["stages"]):
        assert a.caption.text().startswith(stage["a_stage"]) and b.caption.text().startswith(stage["b_stage"])
        assert f"Stage {i + 1} of {len(expected['stages'])}" in view.stage_label.text()
        # The difference is offered exactly where the shapes match.
        assert view.diff_check.isEnabled() == (stage["a_shape"] == stage["b_shape"])
        seen.append(stage["a_stage"])
        if view.next_button.isEnabled():
            with qtbot.waitSignal(view.stage_shown, timeout=5000):
                qtbot.mouseClick(view.next_button, Qt.MouseButton.LeftButton)
    assert view.index == len(expected["stages"]) - 1 and seen[-1] == "classifier"
    assert a.caption.text().startswith("classifier") and "top-1" in a.caption.text()
    view.previous_stage()
    assert view.index == len(expected["stages"]) - 2


def test_difference_toggle_shows_the_cores_statistics(side_by_side):
    from explorer.compare import difference

    view = side_by_side("resnet18_small", "vgg11_small")
    view.go_to(next(i for i, ((_, ta), (_, tb)) in enumerate(view.pairs) if ta.shape == tb.shape))
    assert view.diff_view.isHidden()
    view.diff_check.setChecked(True)
    assert not view.diff_view.isHidden() and view.diff_pane.item.image is not None
    (_, ta), (_, tb) = view.pairs[view.index]
    assert f"mean {difference(ta, tb)['mean_abs_diff']:.4g}" in view.diff_stats.text()
    differing = [i for i, ((_, ta), (_, tb)) in enumerate(view.pairs) if ta.shape != tb.shape]
    if differing:
        view.go_to(differing[0])
        assert view.diff_view.isHidden() and not view.diff_check.isEnabled()
    view.diff_check.setChecked(False)
    assert view.diff_view.isHidden()


def test_each_pane_keeps_its_own_weights(side_by_side, qtbot):
    view = side_by_side("lenet_small", "lenet_small")
    a, b = view.panes["A"], view.panes["B"]
    assert a.session.weights == b.session.weights and a.session.weights.kind == "shipped"
    view.go_to(0)
    view.diff_check.setChecked(True)
    assert view.diff["max_abs_diff"] == 0.0  # the same model and weights: identical maps
    stage = view.pairs[view.index][0][0]
    b.session.set_weights(WeightsChoice("random", seed=7))
    settle(qtbot, view)
    assert a.session.weights.kind == "shipped" and b.session.weights == WeightsChoice("random", seed=7)
    assert "random" in b.weights.combo.currentText() and "shipped" in a.weights.combo.currentText()
    assert view.pairs[view.index][0][0] == stage  # still at the stage the user was on
    assert view.diff["max_abs_diff"] > 0.0


def test_the_input_is_the_explorers_image(side_by_side, qtbot):
    from explorer.activations import load_sample

    view = side_by_side("lenet_small", "lenet5_small")
    assert "sample" in view.input_label.text()
    image = load_sample("trouser")
    view.session.set_image(image, "trouser.png")
    assert all(p.session.image is image for p in view.panes.values())
    settle(qtbot, view)
    assert "trouser.png" in view.input_label.text()


def test_class_scores_are_labelled_bars_in_both_panes_and_the_difference(side_by_side):
    """The walk found the ten class scores drawn as an unlabelled 4x3 grid of cells."""
    import numpy as np
    import torch

    from explorer.activations.predictions import FASHION_MNIST_CLASSES

    view = side_by_side("resnet18_small", "vgg11_small")
    view.go_to(len(view.pairs) - 1)
    (la, ta), (lb, tb) = view.pairs[view.index]
    assert la == lb == "classifier"
    view.diff_check.setChecked(True)
    probabilities = []
    for pane, scores in ((view.panes["A"], ta), (view.panes["B"], tb)):
        assert pane.output.showing_bars and pane.pane.item.image is None  # no mosaic of cells
        expected = torch.softmax(scores.flatten().double(), 0).numpy()
        probabilities.append(expected)
        shown = dict(pane.output.chart.shown)
        assert set(shown) == set(FASHION_MNIST_CLASSES)
        for i, name in enumerate(FASHION_MNIST_CLASSES):
            assert shown[name] == pytest.approx(expected[i], abs=1e-6)
        labels = pane.output.chart.labels()
        assert len(labels) == 10 and labels[0].startswith(pane.output.chart.shown[0][0])
    assert view.diff_view.showing_bars and view.diff_pane.item.image is None
    gaps = np.abs(probabilities[0] - probabilities[1])
    shown = dict(view.diff_view.chart.shown)
    assert set(shown) == set(FASHION_MNIST_CLASSES)
    for i, name in enumerate(FASHION_MNIST_CLASSES):
        assert shown[name] == pytest.approx(gaps[i], abs=1e-6)
    assert [v for _, v in view.diff_view.chart.shown] == sorted(gaps, reverse=True)  # largest on top
    assert all(label.split("  ")[0] in FASHION_MNIST_CLASSES for label in view.diff_view.chart.labels())
    # A stage of feature maps is a mosaic again, in the panes and the difference.
    view.go_to(next(i for i, ((_, a), (_, b)) in enumerate(view.pairs) if a.dim() == 4 and a.shape == b.shape))
    assert not view.panes["A"].output.showing_bars and view.panes["A"].pane.item.image is not None
    assert not view.diff_view.showing_bars and view.diff_pane.item.image is not None


def test_the_panes_and_the_difference_line_up_row_for_row(side_by_side, qtbot):
    """The walk found the two panes misaligned: a pane whose status wraps to more lines
    (an error, a long weights name) must not push its picture up against the other's."""
    from PySide6.QtCore import QPoint, QRect

    view = side_by_side("resnet18_small", "vgg11_small")
    view.go_to(1)
    view.diff_check.setChecked(True)
    view.panes["A"].status.setText("a long message that wraps over several lines of the pane " * 4)
    view.panes["B"].status.setText("short")

    def on_view(widget) -> QRect:
        return QRect(widget.mapTo(view, QPoint(0, 0)), widget.size())

    def lined_up() -> bool:
        outputs = [on_view(w) for w in (view.panes["A"].output, view.panes["B"].output, view.diff_view)]
        captions = [on_view(w) for w in (view.panes["A"].caption, view.panes["B"].caption, view.diff_stats)]
        widths = [r.width() for r in outputs]
        return (len({(r.top(), r.height()) for r in outputs}) == 1 and len({r.top() for r in captions}) == 1
                and max(widths) - min(widths) <= 2)  # equal shares, up to the rounding of the split

    qtbot.waitUntil(lined_up, timeout=5000)
    a, b = (on_view(view.panes[side].output) for side in "AB")
    assert a.right() < b.left()  # side by side, not overlapping
    heads = [on_view(view.panes[side].model_combo).top() for side in "AB"]
    assert heads[0] == heads[1]
