"""Graph units offer the knockouts of the blocks they sit in."""

from __future__ import annotations

from explorer.explain.knockout import parse_knockout
from explorer.explain.knockout_choices import knockout_choices
from explorer.graph import build_named_graph
from explorer.models import get_model


def _choices(name: str, unit: str):
    graph = build_named_graph(name)
    model = get_model(name)
    return graph, model, knockout_choices(graph, model, unit)


def test_a_residual_node_offers_its_blocks_shortcut_only():
    graph, model, choices = _choices("resnet18_small", "layer2_0_conv1")
    assert [spec for _, spec in choices] == ["layer2.0:shortcut"]
    assert parse_knockout("layer2.0:shortcut", graph, model).kind == "shortcut"


def test_inception_branch_aux_head_and_dense_groups():
    _, _, branch = _choices("googlenet_small", "m:inception3a.branch2")
    assert ("Switch off branch inception3a.branch2", "inception3a.branch2") in branch
    graph = build_named_graph("googlenet_small")
    aux = next(p for p, m in graph.modules.items() if m.block_type == "aux_head")
    _, _, head = _choices("googlenet_small", "m:" + aux)
    assert [spec for _, spec in head] == [aux]
    _, _, dense = _choices("densenet121_small", "m:features.denseblock1.denselayer3")
    specs = [spec for _, spec in dense]
    assert specs == [f"features.denseblock1.denselayer3:group{g}" for g in range(3)]


def test_a_plain_layer_offers_nothing():
    assert _choices("lenet5_small", "c1")[2] == []
