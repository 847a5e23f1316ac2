"""Issue 11: graphs that read at a glance, with the papers' own numbers beside ours."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from explorer.graph import build_graph, prepare_view
from explorer.graph.branch_names import BRANCH_NAMES, display_name
from explorer.graph.export import view_document
from explorer.models import get_model, list_models, macs, model_stats
from explorer.models.architectures.lenet import C3_CONNECTIONS

from .helpers import traced

SEVEN = ["C1", "S2", "C3", "S4", "C5", "F6", "RBF output"]


@pytest.mark.parametrize("name", ["lenet5", "lenet5_small"])
def test_lenet5_is_its_seven_named_layers(name):
    graph = traced(name)
    nodes = [graph.node(n) for n in graph.order]
    assert [a["category"] for a in (nodes[0], nodes[-1])] == ["input", "output"]
    middle = nodes[1:-1]
    assert [a["label"] for a in middle] == SEVEN
    assert all(a["op"] == "call_module" for a in middle)
    assert [a["category"] for a in middle] == ["conv", "pool", "conv", "pool", "conv", "linear", "linear"]
    assert sum(a["params"] for a in middle) == graph.total_params == 60_000
    # LeNet-5's field: 5, 6, 14, 16 and the whole 32x32 input at C5
    assert [a["receptive_field"][0] for a in middle[:5]] == [5, 6, 14, 16, 32]


def test_c3_carries_its_connection_table_as_a_6x16_grid_and_counts_its_table():
    c3 = traced("lenet5").node("c3")
    grid = c3["hparams"]["connections"]
    assert len(grid) == 6 and all(len(row) == 16 for row in grid)
    assert [[bool(grid[src][out]) for src in range(6)] for out in range(16)] == [
        [src in sources for src in range(6)] for sources in C3_CONNECTIONS]
    assert macs(c3["flops"]) == 150_000  # not the dense kernel's 240,000
    json.dumps(c3)  # the grid crosses the graph service's JSON boundary


def test_only_true_shortcut_additions_are_residual():
    class BiasAfterConv(nn.Module):  # S2-like arithmetic outside a leaf: x * w + b
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.scale = nn.Parameter(torch.ones(1, 2, 1, 1))
            self.shift = nn.Parameter(torch.zeros(1, 2, 1, 1))

        def forward(self, x):
            return self.conv(x) * self.scale + self.shift

    graph = build_graph(BiasAfterConv(), (1, 1, 8, 8))
    assert not [n for n in graph.order if graph.node(n)["category"] == "add"]
    assert {a["kind"] for *_, a in graph.graph.edges(data=True)} == {"plain"}
    assert not graph.blocks()
    resnet = traced("resnet18")
    adds = [n for n in resnet.order if resnet.node(n)["category"] == "add"]
    assert len(adds) == 8
    for n in adds:
        assert "residual" in {a["kind"] for *_, a in resnet.graph.in_edges(n, data=True)}
    assert not [n for n in traced("lenet5").order if traced("lenet5").node(n)["category"] == "add"]


def test_alexnet_split_is_two_lanes_that_cross_at_conv3_and_the_fcs():
    graph = traced("alexnet_split")
    cats = [n for n in graph.order if graph.node(n)["category"] == "concat"]
    assert len(cats) == 4  # before conv3, fc6, fc7 and fc8
    for cat in cats:
        kinds = [a["kind"] for *_, a in graph.graph.in_edges(cat, data=True)]
        assert kinds == ["branch", "branch"]
    conv3 = [graph.node(f"conv3_gpu{g}_conv") for g in (1, 2)]
    assert all(list(graph.graph.predecessors(f"conv3_gpu{g}_conv")) == [cats[0]] for g in (1, 2))
    assert [c["hparams"]["in_channels"] for c in conv3] == [256, 256]
    # within a lane, conv4 reads only its own lane's conv3
    assert list(graph.graph.predecessors("conv4_gpu1_conv")) == ["conv3_gpu1_relu"]
    assert graph.total_params == 60_965_224


INCEPTION_MODULE = {"googlenet": "inception3a", "googlenet_tv": "inception3a",
                    "googlenet_small": "inception3a", "inception_v2": "inception3a",
                    "inception_v2_small": "inception3a", "inception_v3": "Mixed_5b",
                    "inception_v3_small": "Mixed_5b"}


@pytest.mark.parametrize("name", sorted(INCEPTION_MODULE))
def test_inception_branches_are_named_by_what_they_are(name):
    graph = traced(name)
    block = INCEPTION_MODULE[name]
    labels = {graph.node(n)["label"].split(" · ")[0] for n in graph.modules[block].nodes
              if graph.node(n)["category"] in ("conv", "pool")}
    assert {"1×1", "pool proj"} <= labels
    five = "double 3×3 (2nd)" if name.startswith("inception_v2") else "5×5"
    assert any(label.startswith(five) for label in labels), labels
    assert not [label for label in labels if "branch" in label or label[0].isdigit() and "." in label]


def test_inception_weights_keep_their_state_dict_keys():
    # Display names only: the attribute names torchvision's weights load by stay.
    keys = get_model("googlenet_tv").state_dict()
    assert "inception3a.branch2.1.conv.weight" in keys
    assert "Mixed_5b.branch5x5_2.conv.weight" in get_model("inception_v3_small").state_dict()


def test_display_name_follows_the_innermost_mapped_module():
    modules = dict(get_model("googlenet_small").named_modules())
    assert display_name(modules, "inception4a.branch4.1.conv") == "pool proj · conv"
    assert display_name(modules, "inception4a.branch4.1", "relu") == "pool proj · relu"
    assert display_name(modules, "inception4a") is None
    assert display_name(modules, "conv1.conv") is None
    assert all(isinstance(v, str) for names in BRANCH_NAMES.values() for v in names.values())


@pytest.mark.parametrize("name", list_models())
def test_graph_total_flops_are_the_models_inference_flops(name):
    graph = traced(name)
    assert graph.total_flops == model_stats(name, use_cache=False)["flops"]
    aux = sum(graph.node(n)["flops"] for n in graph.order if graph.node(n)["aux"])
    assert graph.aux_flops == aux
    assert (aux > 0) == bool([n for n in graph.order if graph.node(n)["aux"]])


def test_googlenet_table1_beside_ours_in_the_json_export():
    graph = traced("googlenet")
    view, layout = prepare_view(graph)
    document = json.loads(json.dumps(view_document(graph, view, layout)))
    units = {u["id"]: u for u in document["nodes"]}
    stem = units["conv1_conv"]["paper"]
    assert stem["params"] == round(2.7 * 1024) and stem["macs"] == 34_000_000
    assert "Table 1" in stem["source"] and "depth multiplier 8" in stem["note"]
    assert "9,408" in stem["note"]
    assert units["conv1_conv"]["params"] == 9_408 + 64
    block = units["m:inception3a"]["paper"]
    assert block["macs"] == 128_000_000 and block["params"] == 159 * 1024
    assert abs(macs(units["m:inception3a"]["flops"]) - block["macs"]) / block["macs"] < 0.01
    assert document["paper"]["params"] == 6_800_000
    assert document["total_flops"] == graph.total_flops and document["aux_flops"] > 0


def test_lenet5_sec_2b_and_the_bn_inception_choice_on_their_nodes():
    lenet = traced("lenet5")
    assert lenet.node("c3")["paper"]["connections"] == 151_600
    assert lenet.node("c1")["paper"]["params"] == lenet.node("c1")["params"] == 156
    assert lenet.paper["params"] == 60_000
    for name in ("inception_v2", "inception_v2_small"):
        graph = traced(name)
        for block in ("inception4c", "inception4d"):
            assert "576" in graph.modules[block].paper["note"]
        stem = graph.modules["conv1"].nodes[0]  # the depthwise 7x7 (3x3 on the 1-channel small form)
        assert graph.node(stem)["module_path"] == "conv1.depthwise"
        assert "multiplier 8" in graph.node(stem)["paper"]["note"]
    assert "Figure 5" in traced("inception_v2").modules["inception4c"].paper["source"]
    resnet50 = traced("resnet50").paper
    assert resnet50["macs"] == 3_800_000_000 and "3×3" in resnet50["note"]


def test_a_graph_round_trips_its_paper_figures():
    from explorer.graph import ModelGraph

    graph = traced("googlenet")
    again = ModelGraph.from_dict(json.loads(json.dumps(graph.to_dict())))
    assert again.paper == graph.paper
    assert again.modules["inception4c"].paper == graph.modules["inception4c"].paper
