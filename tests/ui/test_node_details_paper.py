"""The details put the paper's figures beside the measured ones (issue 11)."""

from __future__ import annotations

from explorer.graph import build_named_graph, prepare_view
from explorer.ui.graph.details import NodeDetails


def _details(qtbot, attrs):
    widget = NodeDetails()
    qtbot.addWidget(widget)
    widget.show_node(attrs.get("module_path") or attrs["id"], attrs)
    return widget.text()


def test_googlenet_stem_shows_table_1_beside_the_built_conv(qtbot, qt_warnings):
    graph = build_named_graph("googlenet")
    text = _details(qtbot, dict(graph.node("conv1_conv")))
    assert "The paper beside ours" in text and "Table 1" in text
    assert "2,765" in text and "9,472" in text  # 2.7K as printed, our 9,408 weights + 64 biases
    assert "34,000,000" in text and "118,013,952" in text
    assert "depth multiplier 8" in text


def test_closed_inception_block_and_the_model_totals(qtbot, qt_warnings):
    graph = build_named_graph("inception_v2")
    view, _ = prepare_view(graph)
    text = _details(qtbot, dict(view.graph.nodes["m:inception4c"]))
    assert "Figure 5" in text and "576" in text and "608" in text
    output = next(n for n in graph.order if graph.node(n)["op"] == "output")
    totals = _details(qtbot, dict(graph.node(output)))
    assert "whole model" in totals and "13,600,000" in totals and "11,278,528" in totals


def test_c3_shows_its_connection_table_as_a_grid(qtbot, qt_warnings):
    graph = build_named_graph("lenet5")
    text = _details(qtbot, dict(graph.node("c3")))
    assert "C3" in text and "60 connections" in text
    assert text.count("■") == 60 and "151,600" in text and "150,000" in text
