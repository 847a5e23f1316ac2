"""Clicking an auxiliary head (issue 11): the feature maps follow and show its class scores."""

from __future__ import annotations

from explorer.session import WeightsChoice

RANDOM = WeightsChoice("random", seed=3)


def test_an_aux_head_is_a_node_the_panel_runs_to(qtbot, qt_warnings, feature_panel, tmp_path):
    panel = feature_panel("googlenet_small", RANDOM, tmp_path / "no-data", node="aux1_output")
    record = panel.view_state.record
    assert record.name == "aux1_output" and record.module_path == "aux1"
    assert panel.maps.showing_classes  # the head's class scores, as probability bars
    assert len(panel.maps.class_chart.shown) == 10
    panel.show_node("aux1_conv_conv")  # inside the head: its feature maps
    qtbot.waitUntil(lambda: panel.settled and panel.current_node == "aux1_conv_conv", timeout=30_000)
    assert not panel.maps.showing_classes
    assert panel.view_state.channels.ndim == 3
