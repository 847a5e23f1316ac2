"""Structural facts per family, as issue 3 lists them (paper/torchvision topology)."""

from __future__ import annotations

import torch

from explorer.graph import resolve_model

from .helpers import traced


def _block_nodes(graph, rec):
    return [graph.graph.nodes[n] for n in rec.nodes]


def test_googlenet_has_nine_inception_modules_with_four_branches_into_one_concat():
    graph = traced("googlenet")
    inceptions = graph.blocks("inception")
    assert len(inceptions) == 9
    for rec in inceptions:
        concats = [n for n in rec.nodes if graph.graph.nodes[n]["category"] == "concat"
                   and graph.graph.nodes[n]["module_path"] == rec.path]
        assert len(concats) == 1, rec.path
        in_edges = list(graph.graph.in_edges(concats[0], data=True))
        assert len(in_edges) == 4
        assert {a["kind"] for _, _, a in in_edges} == {"branch"}
        # the four branches leave one fork
        first_layers = {c for c in rec.children if c.rsplit(".", 1)[-1].startswith("branch")}
        assert len(first_layers) == 4


def test_googlenet_aux_heads_leave_after_4a_and_4d():
    graph = traced("googlenet")
    heads = graph.blocks("aux_head")
    assert len(heads) == 2
    sources = []
    for rec in heads:
        entering = [(u, v) for u, v, a in graph.graph.edges(data=True)
                    if a["kind"] == "aux" and v in rec.nodes and u not in rec.nodes]
        assert len(entering) == 1
        sources.append(graph.graph.nodes[entering[0][0]]["module_path"].split(".")[0])
        assert all(graph.graph.nodes[n]["aux"] for n in rec.nodes)
    assert sorted(sources) == ["inception4a", "inception4d"]


def test_resnet50_has_16_bottlenecks_4_with_projection_shortcuts():
    graph = traced("resnet50")
    bottlenecks = graph.blocks("bottleneck")
    assert len(bottlenecks) == 16
    projections = 0
    for rec in bottlenecks:
        adds = [n for n in rec.nodes if graph.graph.nodes[n]["category"] == "add"]
        assert len(adds) == 1
        shortcut = [u for u, _, a in graph.graph.in_edges(adds[0], data=True) if a["kind"] == "residual"]
        assert len(shortcut) == 1
        if graph.graph.nodes[shortcut[0]]["module_path"].startswith(rec.path + "."):
            projections += 1
            # the projection is a 1x1 conv whose edges are shortcut edges too
            convs = [v for u, v, a in graph.graph.edges(data=True) if a["kind"] == "residual"
                     and graph.graph.nodes[v]["category"] == "conv" and v in rec.nodes]
            assert graph.graph.nodes[convs[0]]["hparams"]["kernel_size"] == [1, 1]
    assert projections == 4


def test_densenet121_blocks_grow_concat_inputs_by_one_and_has_3_transitions():
    graph = traced("densenet121")
    dense_blocks = graph.blocks("dense_block")
    layer_counts = []
    for rec in dense_blocks:
        layers = [c for c in rec.children if graph.modules[c].block_type == "dense_layer"]
        layer_counts.append(len(layers))
        inputs = []
        for layer in layers:
            concat = [n for n in graph.modules[layer].nodes if graph.graph.nodes[n]["category"] == "concat"]
            assert len(concat) == 1
            inputs.append(graph.graph.in_degree(concat[0]))
            assert {a["kind"] for _, _, a in graph.graph.in_edges(concat[0], data=True)} == {"dense"}
        assert inputs == list(range(1, len(layers) + 1))
    assert layer_counts == [6, 12, 24, 16]
    assert len(graph.blocks("transition")) == 3


def test_mobilenet_v2_shortcuts_only_where_stride_1_and_channels_match():
    graph = traced("mobilenet_v2")
    blocks = graph.blocks("inverted_residual")
    assert len(blocks) == 17
    with_shortcut = 0
    for rec in blocks:
        nodes = _block_nodes(graph, rec)
        depthwise = [a for a in nodes if a["category"] == "depthwise"]
        assert len(depthwise) == 1
        stride = depthwise[0]["hparams"]["stride"]
        entry = [p for n in rec.nodes for p in graph.graph.predecessors(n) if p not in rec.nodes]
        in_channels = graph.graph.nodes[entry[0]]["shape"][1]
        out_channels = graph.graph.nodes[rec.nodes[-1]]["shape"][1]
        has_add = any(a["category"] == "add" for a in nodes)
        assert has_add == (stride == [1, 1] and in_channels == out_channels), rec.path
        with_shortcut += has_add
    assert with_shortcut == 10


def test_node_ids_equal_plain_symbolic_trace_names():
    model, shape = resolve_model("torchvision.resnet18")
    model.eval()
    names = [n.name for n in torch.fx.symbolic_trace(model).graph.nodes]
    graph = traced("resnet18")
    assert graph.order == names
    assert graph.node("layer1_0_conv1")["module_path"] == "layer1.0.conv1"
    assert graph.node("add")["module_path"] == "layer1.0"
