"""Where knockouts show on a graph view (no Qt): struck units, cut or idle edges, badges and
glyph parts, with blocks closed and every layer open."""

from __future__ import annotations

import pytest

from explorer.explain.knockout_spec import knockouts_for
from explorer.explain.knockout_view import CUT, IDLE, SHORTCUT, ViewMarks, knockout_parts, view_marks
from explorer.graph import build_named_graph, default_state, expand, expanded_state, make_view
from explorer.models import get_model


@pytest.fixture(scope="module")
def resnet():
    return build_named_graph("resnet18_small"), get_model("resnet18_small")


@pytest.fixture(scope="module")
def googlenet():
    return build_named_graph("googlenet_small"), get_model("googlenet_small")


def _marks(graph, model, specs, state):
    return view_marks(knockouts_for(specs, graph, model), graph, make_view(graph, state))


def test_resnet_shortcuts_and_a_channel(resnet):
    graph, model = resnet
    specs = ["layer2.0:shortcut", "layer1.0:shortcut", "layer1.0.conv1:3"]
    identity = knockout_parts(knockouts_for(["layer1.0:shortcut"], graph, model)[0], graph)
    assert identity.nodes == frozenset() and len(identity.edges) == 1
    (source, add), = identity.edges
    assert graph.node(add)["category"] == "add" and source not in graph.modules["layer1.0"].nodes

    closed = _marks(graph, model, specs, default_state(graph))
    assert closed.struck == frozenset() and closed.edges == {}
    assert closed.badges == {"m:layer1.0": "2 knockouts", "m:layer2.0": "1 knockout"}
    assert closed.glyph_off == {"m:layer1.0": {SHORTCUT}, "m:layer2.0": {SHORTCUT}}
    assert closed.notes["m:layer1.0"] == ("identity shortcut of layer1.0", "channel 3 of layer1.0.conv1")

    open_ = _marks(graph, model, specs, expanded_state(graph))
    assert open_.struck == set(graph.modules["layer2.0.downsample"].nodes)
    assert open_.edges.pop((source, add)) == CUT
    assert set(open_.edges.values()) == {IDLE}
    assert all(u in open_.struck or v in open_.struck for u, v in open_.edges)
    assert open_.badges == {"layer1_0_conv1": "c3 off"}
    assert open_.glyph_off == {}


def test_two_channels_of_one_layer_share_a_badge(resnet):
    graph, model = resnet
    marks = _marks(graph, model, ["layer1.0.conv1:3", "layer1.0.conv1:5"], expanded_state(graph))
    assert marks.badges == {"layer1_0_conv1": "2 channels off"}
    assert _marks(graph, model, ["layer1.0.conv1:5"], expanded_state(graph)).badges == {
        "layer1_0_conv1": "c5 off"}


def test_googlenet_branch_and_aux_head(googlenet):
    graph, model = googlenet
    specs = ["inception3a.branch2", "aux1"]
    branch = knockout_parts(knockouts_for(["inception3a.branch2"], graph, model)[0], graph)
    assert branch.block == "inception3a" and branch.position == 1

    closed = _marks(graph, model, specs, default_state(graph))
    assert closed.struck == {"m:aux1"}
    assert closed.edges == {("m:inception4a", "m:aux1"): IDLE}
    assert closed.badges == {"m:inception3a": "1 knockout"}
    assert closed.glyph_off == {"m:inception3a": {1}}

    open_ = _marks(graph, model, specs, expanded_state(graph))
    assert open_.struck == set(graph.modules["inception3a.branch2"].nodes) | set(graph.modules["aux1"].nodes)
    assert set(open_.edges.values()) == {IDLE}
    assert open_.badges == {} and open_.glyph_off == {}


def test_a_dense_group_is_badged_on_its_dense_layer():
    graph, model = build_named_graph("densenet121_small"), get_model("densenet121_small")
    specs = ["denseblock1.denselayer3:group2"]
    (knockout,) = knockouts_for(specs, graph, model)
    parts = knockout_parts(knockout, graph)
    (source, concat), = parts.edges
    assert concat == parts.badge_node and parts.badge == "group 2 off"
    open_ = _marks(graph, model, specs, expanded_state(graph))
    assert open_.badges == {concat: "group 2 off"} and open_.edges == {(source, concat): CUT}
    # the dense block open, its layers closed: the dense layer's own block names the group
    layer = "features.denseblock1.denselayer3"
    marks = _marks(graph, model, specs, expand(default_state(graph), "features.denseblock1"))
    assert marks.badges == {f"m:{layer}": "group 2 off"}
    closed = _marks(graph, model, specs, default_state(graph))
    assert closed.badges == {"m:features.denseblock1": "1 knockout"}


def test_no_knockouts_no_marks(resnet):
    graph, _model = resnet
    marks = view_marks([], graph, make_view(graph, default_state(graph)))
    assert marks == ViewMarks() and not marks
