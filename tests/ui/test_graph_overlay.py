"""Metric overlays on the graph: colours follow values, the bar spans min..max, tooltips
carry the value, closed blocks aggregate, and measured or run metrics appear when they can."""

from __future__ import annotations

import math

import pytest

from explorer.metrics.overlays import aggregate, static_metrics
from explorer.session import Session, WeightsChoice
from explorer.ui.graph.overlay import BY_KEY, GraphOverlay, format_value
from explorer.ui.graph.panel import GraphPanel


@pytest.fixture
def shown(qtbot):
    """``shown(model)``: a graph panel with its overlay on a session showing ``model``."""
    made = []

    def make(model: str):
        session = Session()
        panel = GraphPanel(session)
        overlay = GraphOverlay(session, panel)
        for w in (panel, overlay):
            qtbot.addWidget(w)
        panel.resize(900, 700)
        panel.show()
        made.append((panel, overlay))
        with qtbot.waitSignal(panel.graph_ready, timeout=120_000):
            session.set_model(model)
        return session, panel, overlay

    yield make
    for panel, overlay in made:
        overlay.stop()
        panel.stop()


def _enabled(overlay, key):
    return overlay.combo.model().item(overlay.combo.findData(key)).isEnabled()


def test_flops_colour_the_nodes_with_a_bar_from_min_to_max(shown):
    _session, panel, overlay = shown("resnet18_small")
    overlay.set_metric("flops")
    assert panel.legend.isHidden()  # category colours mean nothing while the nodes are tinted
    values = overlay.values
    positive = {u: v for u, v in values.items() if v > 0}
    assert overlay.span == (min(positive.values()), max(positive.values()))
    assert not overlay.strip.isHidden() and overlay.high_label.text() == format_value(BY_KEY["flops"], overlay.span[1])
    lo = min(positive, key=positive.get)
    hi = max(positive, key=positive.get)
    assert panel.scene.nodes[lo].tint != panel.scene.nodes[hi].tint
    assert all(panel.scene.nodes[u].tint is not None for u in values)
    # Log scale: a unit with a tenth of the top value sits well inside the scale.
    conv = panel.scene.nodes["conv1"]
    assert conv.tint not in (panel.scene.nodes[lo].tint, panel.scene.nodes[hi].tint)
    assert f"FLOPs: {format_value(BY_KEY['flops'], values['conv1'])}" in conv.toolTip()
    overlay.set_metric(None)
    assert all(item.tint is None for item in panel.scene.nodes.values())
    assert overlay.strip.isHidden() and "FLOPs" not in conv.toolTip() and not panel.legend.isHidden()


def test_a_closed_block_shows_its_members_aggregate_and_opening_it_recolours(shown, qtbot):
    _session, panel, overlay = shown("resnet18_small")
    overlay.set_metric("params")
    expected = aggregate(panel.graph, static_metrics(panel.graph), "layer2.0")["params"]
    assert overlay.values["m:layer2.0"] == expected
    assert "sum of" in panel.scene.nodes["m:layer2.0"].toolTip()
    panel.toggle_unit("m:layer2.0")
    qtbot.waitUntil(lambda: "layer2_0_conv1" in overlay.values, timeout=30_000)
    assert overlay.values["layer2_0_conv1"] == static_metrics(panel.graph)["layer2_0_conv1"]["params"]
    assert panel.scene.nodes["layer2_0_conv1"].tint is not None


def test_latency_and_sparsity_are_measured_in_the_background(shown, qtbot):
    from explorer.activations import load_sample
    from explorer.models import get_model

    session, panel, overlay = shown("lenet_small")
    assert not _enabled(overlay, "latency_ms") and not _enabled(overlay, "sparsity")
    weights = WeightsChoice("random", seed=1)
    session.set_weights(weights)
    session.set_module("lenet_small", weights, get_model("lenet_small").eval())
    assert _enabled(overlay, "latency_ms") and not _enabled(overlay, "sparsity")
    overlay.set_metric("latency_ms")
    qtbot.waitUntil(lambda: bool(overlay.values) and not overlay.busy, timeout=60_000)
    assert overlay.values["conv1"] > 0 and "ms" in panel.scene.nodes["conv1"].toolTip()
    session.set_image(load_sample("ankle_boot"), "ankle boot")
    assert _enabled(overlay, "sparsity")
    overlay.set_metric("sparsity")
    qtbot.waitUntil(lambda: bool(overlay.values) and not overlay.busy, timeout=60_000)
    assert all(0.0 <= v <= 1.0 for v in overlay.values.values())
    assert overlay.span[0] == min(overlay.values.values())
    assert "Sparsity" in panel.scene.nodes["conv1"].toolTip()


def test_run_metrics_only_for_a_runs_epoch_with_summaries(shown, tmp_path):
    from explorer.models import get_model
    from explorer.train.snapshots import SnapshotStore, snapshot_folder

    session, panel, overlay = shown("lenet_small")
    assert not any(_enabled(overlay, k) for k in ("grad_norm", "weight_change", "dead_relu"))
    checkpoint = tmp_path / "run.pt"
    layers = {f"{m}.{p}": {"grad_norm": g, "weight_change": w}
              for m, g, w in (("conv1", 3.0, 0.1), ("conv2", 1.0, 0.3), ("fc1", 0.5, 0.2))
              for p in ("weight", "bias")}
    SnapshotStore(snapshot_folder(checkpoint)).save_record(2, {"summaries": {"layers": layers, "dead_relu": {}}})
    weights = WeightsChoice("run", path=str(checkpoint), run_id="r1", epoch=2)
    session.set_weights(weights)
    session.set_module("lenet_small", weights, get_model("lenet_small"))
    assert all(_enabled(overlay, k) for k in ("grad_norm", "weight_change", "dead_relu"))
    overlay.set_metric("grad_norm")
    assert overlay.values["conv1"] == pytest.approx(math.sqrt(2 * 3.0 ** 2))
    assert overlay.span == (pytest.approx(math.sqrt(2 * 0.5 ** 2)), pytest.approx(math.sqrt(18)))
    assert panel.scene.nodes["conv1"].tint != panel.scene.nodes["fc1"].tint
    # Other weights: the run metric cannot be shown any more, and the overlay goes off.
    session.set_weights(WeightsChoice("random", seed=3))
    assert overlay.metric is None and not _enabled(overlay, "grad_norm")
    assert BY_KEY["grad_norm"].source == "run"
