"""The Unit page's animation (issue 21, as CNN Explainer does it): the window slides over
the real input map (padding drawn) while the output map fills in, one output cell per
frame in raster order; each frame's value is the layer's own output there. The frame math
is tested without Qt first; then the widget: Step, Play on the timer, Pause, and any change
of the session stops and clears it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.activations.stepper import Stepper
from explorer.explain.units import explain_call
from explorer.explain.units.animation import NotAnimated, animation_for
from explorer.explain.units.base import fmt
from explorer.models import get_model, get_model_info
from explorer.session import WeightsChoice
from explorer.ui.explain.unit_animation import SPEEDS

RANDOM = WeightsChoice("random", seed=1)


def _stepper(name: str) -> Stepper:
    torch.manual_seed(0)
    model = get_model(name).eval()
    shape = tuple(get_model_info(name).input_shape)
    stepper = Stepper(model, "cpu", input_shape=shape)
    stepper.set_input(torch.randn(shape))
    return stepper


def _animation(stepper: Stepper, node: str, channel: int):
    stepper.run_to(node)
    call = stepper.call_at()
    result = explain_call(call, stepper.nodes, channel, (0, 0))
    return animation_for(result, call, stepper.nodes), call, result


def _visits_every_output_in_raster_order(anim, call, stepper, channel) -> None:
    height, width = anim.output_map.shape
    assert anim.count == height * width
    output = call.output[0, channel].double()
    frames = [anim.frame(i) for i in range(anim.count)]
    assert [f.out for f in frames] == [(y, x) for y in range(height) for x in range(width)]
    assert np.array_equal([f.value for f in frames], output.flatten().numpy())
    # The window of each frame is the one the explainer reads for that unit (a sample).
    for f in frames[:: max(1, anim.count // 7)] + frames[-1:]:
        detail = explain_call(call, stepper.nodes, channel, f.out).detail
        assert f.rows == (detail.rows[0], detail.rows[-1]) and f.cols == (detail.cols[0], detail.cols[-1])
    assert not anim.filled(-1).any() and anim.filled(anim.count - 1).all()
    assert anim.filled(width).sum() == width + 1 and anim.filled(width)[1, 0]


def test_a_strided_padded_conv_visits_every_output_cell_with_the_layers_value():
    stepper = _stepper("resnet18_small")
    anim, call, _ = _animation(stepper, "layer2.0.conv1", 5)
    assert anim.mode == "conv" and anim.stride == (2, 2) and anim.pad == (1, 1)
    _visits_every_output_in_raster_order(anim, call, stepper, 5)
    # The drawn channel's products, computed apart: one channel's share of the unit.
    x = call.args[0][0, anim.in_channel].double()
    kernel = call.module.weight[5, anim.in_channel].detach().double()
    alone = F.conv2d(x[None, None], kernel[None, None], stride=2, padding=anim.pad)[0, 0]
    assert np.allclose(anim.partials, alone.numpy())
    assert anim.frame(0).rows[0] < 0  # the first window starts in the padding
    assert anim.input_map.shape == tuple(call.args[0].shape[-2:])


def test_a_max_pool_frame_is_the_largest_value_in_its_window():
    stepper = _stepper("resnet18_small")
    anim, call, _ = _animation(stepper, "maxpool", 2)
    assert anim.mode == "pool" and anim.op == "max" and anim.in_channel == 2
    _visits_every_output_in_raster_order(anim, call, stepper, 2)
    h, w = anim.input_map.shape
    for i in range(anim.count):
        f = anim.frame(i)
        window = anim.input_map[max(0, f.rows[0]):min(h, f.rows[1] + 1), max(0, f.cols[0]):min(w, f.cols[1] + 1)]
        assert window.max() == pytest.approx(f.value, abs=1e-6)


def test_depthwise_filters_its_one_channel_and_1x1_mixes_channels_at_a_pixel():
    stepper = _stepper("mobilenet_v2_small")
    anim, call, _ = _animation(stepper, "features.1.conv.0.0", 3)
    assert anim.mode == "depthwise" and anim.in_channels == (3,) and anim.in_channel == 3
    _visits_every_output_in_raster_order(anim, call, stepper, 3)
    for i in range(anim.count):  # the one channel's products + bias make the output
        f = anim.frame(i)
        assert f.partial + anim.bias == pytest.approx(f.value, abs=1e-4)
    anim, call, _ = _animation(stepper, "features.1.conv.1", 4)
    assert anim.mode == "pointwise" and len(anim.in_channels) > 1
    _visits_every_output_in_raster_order(anim, call, stepper, 4)
    for i in range(0, anim.count, 5):
        f = anim.frame(i)
        y, x = f.out
        assert f.pixel == (y, x)
        assert anim.pointwise_sums[y, x] + anim.bias == pytest.approx(f.value, abs=1e-4)
        column = call.args[0][0, list(anim.in_channels), y, x].double().numpy()
        strongest = int(anim.top_channels[0, y, x])
        assert abs(anim.top_products[0, y, x]) == pytest.approx(np.abs(column * anim.weights).max())
        assert anim.top_values[0, y, x] == pytest.approx(column[strongest])


def test_a_layer_with_no_window_is_not_animated():
    stepper = _stepper("resnet18_small")
    stepper.run_to("relu")
    call = stepper.call_at()
    with pytest.raises(NotAnimated, match="no sliding window"):
        animation_for(explain_call(call, stepper.nodes, 0, (0, 0)), call, stepper.nodes)


# ================================================================ the widget


@pytest.fixture
def conv_page(qtbot, feature_panel, tmp_path):
    panel = feature_panel("resnet18_small", RANDOM, tmp_path / "no-data", node="layer2_0_conv1")
    panel.detail_tabs.setCurrentWidget(panel.unit_view)
    panel.unit_view.explain(1, (2, 3))
    return panel


def test_animate_step_play_and_pause(qtbot, qt_warnings, conv_page):
    view = conv_page.unit_view
    anim = view.animation
    anim.animate_button.click()
    a = anim.animation
    assert a is not None and a.channel == 1 and anim.canvas.index == 0
    assert "output (0, 0)" in anim.line.text() and fmt(a.frame(0).value) in anim.line.text()
    anim.step_button.click()
    assert anim.canvas.index == 1 and "output (0, 1)" in anim.line.text()
    anim.speed.setCurrentIndex(len(SPEEDS) - 1)
    anim.play_button.click()
    assert anim.playing and anim.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: anim.canvas.index >= 6, timeout=5_000)
    anim.play_button.click()
    assert not anim.playing and anim.play_button.text() == "Play"
    stopped = anim.canvas.index
    qtbot.wait(120)
    assert anim.canvas.index == stopped
    anim.canvas.grab().save("/tmp/anim_test_conv.png")


def test_a_session_change_or_another_unit_stops_and_clears(qtbot, qt_warnings, conv_page):
    view = conv_page.unit_view
    anim = view.animation
    anim.animate_button.click()
    anim.play()
    assert anim.playing
    conv_page.session.set_knockouts(["layer1.0.conv1:3"])
    assert not anim.playing and anim.animation is None and anim.line.text() == ""
    qtbot.waitUntil(lambda: conv_page.settled, timeout=30_000)
    view.explain(0, (0, 0))
    anim.animate_button.click()
    anim.play()
    view.explain(2, (1, 1))  # another unit: the next tick stops and clears
    qtbot.waitUntil(lambda: anim.animation is None, timeout=2_000)
    assert not anim.playing
    anim.animate_button.click()
    anim.play()
    conv_page.detail_tabs.setCurrentIndex(0)  # the page hidden: the timer stops
    assert conv_page.detail_tabs.currentWidget() is not view and not anim.playing


def test_a_1x1_conv_lists_the_channels_at_its_pixel(qtbot, qt_warnings, feature_panel, tmp_path):
    panel = feature_panel("mobilenet_v2_small", RANDOM, tmp_path / "no-data", node="features_1_conv_1")
    panel.detail_tabs.setCurrentWidget(panel.unit_view)
    panel.unit_view.explain(4, (0, 0))
    anim = panel.unit_view.animation
    anim.animate_button.click()
    anim.step()
    a = anim.animation
    assert a.mode == "pointwise" and "pixel (0, 1): ch " in anim.line.text()
    assert anim.line.text().endswith(fmt(a.frame(1).value))
    assert not anim.canvas.grab().isNull()  # the bars of the pixel's products paint


def test_a_layer_with_no_window_says_so_in_one_line(qtbot, qt_warnings, feature_panel, tmp_path):
    panel = feature_panel("resnet18_small", RANDOM, tmp_path / "no-data", node="relu")
    panel.detail_tabs.setCurrentWidget(panel.unit_view)
    panel.unit_view.explain(0, (0, 0))
    anim = panel.unit_view.animation
    anim.animate_button.click()
    assert anim.animation is None and "no sliding window" in anim.line.text()
    assert not anim.play_button.isEnabled()
