"""Metric overlays on the graph: colours follow values, the bar spans min..max, tooltips
carry the value, closed blocks aggregate, and measured or run metrics appear when they can."""

from __future__ import annotations

import math
import re

import pytest

from explorer.loading import LoadedModel
from explorer.metrics.overlays import ZERO_FRACTION, aggregate, static_metrics
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


def test_the_colours_keep_node_text_readable_in_either_theme(shown):
    """Lightened colours under the dark theme's light node text were unreadable: the scale
    follows the theme, and the bar draws the scale the nodes get."""
    from PySide6.QtGui import QColor

    from explorer.ui.graph.overlay import tint_table, zero_tint
    from explorer.ui.theme import graph_color

    from .contrast import AA, contrast

    _session, panel, overlay = shown("resnet18_small")
    overlay.set_metric("flops")
    for theme in ("dark", "light"):
        panel.set_theme(theme)
        text = graph_color("node_text", theme)
        tints = panel.scene.node_tints()
        assert set(tints) == set(overlay.values)
        assert min(contrast(colour, text) for colour in tints.values()) >= AA, theme
        assert all(contrast(QColor(*map(int, rgb)), text) >= AA for rgb in tint_table(theme)), theme
        assert contrast(zero_tint(theme), text) >= AA
        assert overlay.strip._stops[-1][1] == QColor(*map(int, tint_table(theme)[255]))


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


def test_latency_and_zero_fraction_are_measured_in_the_background(shown, qtbot):
    from explorer.activations import load_sample
    from explorer.models import get_model

    session, panel, overlay = shown("lenet_small")
    assert not _enabled(overlay, "latency_ms") and not _enabled(overlay, ZERO_FRACTION)
    weights = WeightsChoice("random", seed=1)
    session.set_weights(weights)
    session.deliver(LoadedModel.of("lenet_small", weights, get_model("lenet_small").eval()))
    assert _enabled(overlay, "latency_ms") and not _enabled(overlay, ZERO_FRACTION)
    overlay.set_metric("latency_ms")
    qtbot.waitUntil(lambda: bool(overlay.values) and not overlay.busy, timeout=60_000)
    assert overlay.values["conv1"] > 0 and "ms" in panel.scene.nodes["conv1"].toolTip()
    session.set_image(load_sample("ankle_boot"), "ankle boot")
    assert _enabled(overlay, ZERO_FRACTION)
    overlay.set_metric(ZERO_FRACTION)
    qtbot.waitUntil(lambda: bool(overlay.values) and not overlay.busy, timeout=60_000)
    assert all(0.0 <= v <= 1.0 for v in overlay.values.values())
    assert overlay.span[0] == min(overlay.values.values())
    assert "Zero fraction per layer (current image): " in panel.scene.nodes["conv1"].toolTip()


def test_the_overlays_zero_fraction_is_named_apart_from_a_maps_zeros(shown):
    """The overlay's figure is a layer's share of zeros (a block: the mean over its
    layers); the maps panel's is "zeros in this map" (one node's output). Neither is
    called "sparsity", in the window, the CLI or the docs."""
    from pathlib import Path

    from explorer.ui.graph.overlay import METRICS

    _session, panel, overlay = shown("resnet18_small")
    metric = BY_KEY[ZERO_FRACTION]
    assert metric.label == "Zero fraction per layer (current image)" and metric.how == "mean"
    labels = [overlay.combo.itemText(i) for i in range(overlay.combo.count())]
    assert metric.label in labels and not any("sparsity" in text.lower() for text in labels)
    assert not any("zeros in this map" in m.label for m in METRICS)
    # A closed block's tooltip says it is the mean over its layers.
    overlay.metric = metric
    members = panel.view_graph.graph.nodes["m:layer1.0"]["members"]
    overlay._paint({node: {ZERO_FRACTION: 0.5} for node in members})
    assert (f"Zero fraction per layer (current image): 50.0% (mean of {len(members)} layers)"
            in panel.scene.nodes["m:layer1.0"].toolTip())
    # The maps name theirs after the map and the channel (test_feature_readouts); the
    # word that meant both is gone from the window, the CLI and the docs.
    root = Path(__file__).resolve().parents[2]
    for path in [*root.glob("explorer/**/*.py"), *root.glob("docs/*.md"), root / "README.md"]:
        assert "sparsity" not in path.read_text(encoding="utf-8").lower(), path


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
    session.deliver(LoadedModel.of("lenet_small", weights, get_model("lenet_small")))
    assert all(_enabled(overlay, k) for k in ("grad_norm", "weight_change", "dead_relu"))
    overlay.set_metric("grad_norm")
    assert overlay.values["conv1"] == pytest.approx(math.sqrt(2 * 3.0 ** 2))
    assert overlay.span == (pytest.approx(math.sqrt(2 * 0.5 ** 2)), pytest.approx(math.sqrt(18)))
    assert panel.scene.nodes["conv1"].tint != panel.scene.nodes["fc1"].tint
    # Other weights: the run metric cannot be shown any more, and the overlay goes off.
    session.set_weights(WeightsChoice("random", seed=3))
    assert overlay.metric is None and not _enabled(overlay, "grad_norm")
    assert BY_KEY["grad_norm"].source == "run"


def _node_fills(svg: str) -> list[tuple[str, float, float]]:
    """(fill, x, y) of every group the SVG draws at a translation."""
    found = re.findall(r'<g fill="(#[0-9a-f]{6})"[^>]*?transform="matrix\(1,0,0,1,([-\d.e]+),([-\d.e]+)\)"', svg)
    return [(fill, float(x), float(y)) for fill, x, y in found]


def _fill_at(fills, item, origin) -> set[str]:
    x, y = item.pos().x() - origin.x(), item.pos().y() - origin.y()
    return {fill for fill, fx, fy in fills if abs(fx - x) < 0.01 and abs(fy - y) < 0.01}


def test_export_draws_the_colours_colour_by_shows(shown, tmp_path):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QImage

    from explorer.ui.theme import category_color

    _session, panel, overlay = shown("resnet18_small")
    origin = panel.scene.sceneRect().topLeft()
    conv = panel.scene.nodes["conv1"]
    plain = _node_fills(panel.export_to(tmp_path / "plain.svg").read_text())
    assert category_color("conv", "light").name() in _fill_at(plain, conv, origin)
    overlay.set_metric("flops")
    assert overlay.values
    svg = _node_fills(panel.export_to(tmp_path / "flops.svg").read_text())
    for unit in overlay.values:
        item = panel.scene.nodes[unit]
        assert item.tint.name() in _fill_at(svg, item, origin), unit  # the colour on screen
    assert category_color("conv", "light").name() not in _fill_at(svg, conv, origin)
    assert {f for f, _, _ in svg} != {f for f, _, _ in plain}
    png = QImage(str(panel.export_to(tmp_path / "flops.png")))
    box = conv.sceneBoundingRect()
    at = QPoint(int(box.left() - origin.x() + box.width() * 0.2), int(box.center().y() - origin.y()))
    assert png.pixelColor(at) == conv.tint
    overlay.set_metric(None)
    again = _node_fills(panel.export_to(tmp_path / "again.svg").read_text())
    assert category_color("conv", "light").name() in _fill_at(again, conv, origin)
