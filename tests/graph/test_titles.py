"""Issue 19, one name per node everywhere: the module path (``layer2.0.downsample.1``), or
for an operation that is not a module a name from its place (``layer2.0 (add)``); the graph,
the stepper and the CLI give a node the same one, and torch.fx's names are never shown."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

from explorer.activations import Stepper
from explorer.cli import main
from explorer.graph import build_graph, default_state, prepare_view
from explorer.graph.titles import node_label, node_titles
from explorer.models import get_model_info
from explorer.models.stats import meta_model

from .helpers import traced

MODELS = ("resnet18_small", "googlenet_small")
# A derived name: "<owner> (<op>)", a top-level "<op>" or "(<op>)", numbered " #k" from
# its second use on.
_DERIVED = re.compile(r"^(?:(?P<owner>[\w.]+) )?\(?(?P<op>\w+)\)?$")


def _strip_repeat(title: str) -> str:
    return re.sub(r" #\d+$", "", title)


def _is_module_path_or_derived(title: str, attrs: dict, paths: set[str]) -> bool:
    base = _strip_repeat(title)
    if attrs["op"] == "call_module":
        return base == attrs["module_path"] and base in paths
    if attrs["op"] == "placeholder":
        return base == "input"
    found = _DERIVED.match(base)
    if found is None:
        return False
    owner, op = found.group("owner") or "", found.group("op")
    wanted = "output" if attrs["op"] == "output" else attrs["target"]
    return op == wanted and owner == attrs["module_path"] and (not owner or owner in paths)


@pytest.mark.parametrize("name", MODELS)
def test_every_name_shown_is_a_module_path_or_a_name_from_its_place(name):
    graph = traced(name)
    paths = {p for p, _ in meta_model(name).named_modules() if p}
    ids = set(graph.order)
    titles = [graph.node(n)["title"] for n in graph.order]
    assert len(set(titles)) == len(titles)  # one name, one node
    for node_id, title in zip(graph.order, titles):
        attrs = graph.node(node_id)
        assert _is_module_path_or_derived(title, attrs, paths), (node_id, title)
    # fx's names ("add_3", "cat_1", "layer1_0_conv1") appear nowhere: not as a title, not as
    # a label, not as a drawn unit's text, unless fx happened to pick the module path itself
    fx_only = ids - set(titles) - {node_label(t, graph.node(n)["op"], graph.node(n)["module_path"],
                                              str(graph.node(n)["target"]))
                                   for n, t in zip(graph.order, titles)}
    view, _ = prepare_view(graph, default_state(graph))
    shown = [a.get(k) for _, a in view.graph.nodes(data=True) for k in ("label", "title", "summary")]
    shown += [graph.node(n)["label"] for n in graph.order]
    assert not fx_only & set(shown), sorted(fx_only & set(shown))
    assert any(t.endswith((" (cat)", " (add)")) for t in titles)  # derived names are used


@pytest.mark.parametrize("name", MODELS)
def test_the_stepper_names_every_node_as_the_graph_does(name):
    graph = traced(name)
    model = meta_model(name).to_empty(device="cpu")
    stepper = Stepper(model, "cpu", input_shape=get_model_info(name).input_shape)
    assert [r.title for r in stepper.nodes] == [graph.node(n)["title"] for n in graph.order]
    for record in stepper.nodes:  # the same node (by its internal id) has the same name
        assert graph.node(record.name)["title"] == record.title
        assert stepper.index_of(record.title) == record.index  # and can be found by it


def test_resnet_names_its_shortcut_by_module_path_and_its_addition_by_place():
    graph = traced("resnet18_small")
    titles = {graph.node(n)["title"]: n for n in graph.order}
    assert {"layer2.0.downsample.0", "layer2.0.downsample.1", "layer2.0 (add)", "layer2.0.relu2"} <= set(titles)
    assert graph.find_node("layer2.0 (add)") == titles["layer2.0 (add)"]
    assert graph.node(titles["layer2.0 (add)"])["label"] == "add"
    googlenet = traced("googlenet_small")
    named = [googlenet.node(n)["title"] for n in googlenet.order]
    assert "inception3a (cat)" in named and "aux1 (output)" in named


def test_a_module_called_twice_and_a_top_level_function_named_like_a_module():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.relu = nn.ReLU()
            self.flatten = nn.Identity()

        def forward(self, x):
            x = self.relu(self.conv(x))
            x = self.relu(x + 1)
            return torch.flatten(self.flatten(x), 1)

    graph = build_graph(Twice(), (1, 1, 4, 4))
    titles = [graph.node(n)["title"] for n in graph.order]
    assert titles == ["input", "conv", "relu", "add", "relu #2", "flatten", "(flatten)", "output"]
    assert [graph.node(n)["label"] for n in graph.order][3:5] == ["add", "relu #2"]
    stepper = Stepper(Twice(), "cpu")
    assert [r.title for r in stepper.nodes] == titles
    assert node_titles([("call_function", "", "cat")] * 3) == ["cat", "cat #2", "cat #3"]


def test_the_cli_names_nodes_as_the_graph_does(capsys):
    graph = traced("resnet18_small")
    titles = {graph.node(n)["title"] for n in graph.order}
    paths = {p for p, _ in meta_model("resnet18_small").named_modules() if p}
    assert main(["summary", "resnet18_small", "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    assert layers and all(r["path"] in paths and r["path"] in titles for r in layers)
    assert main(["rf", "resnet18_small", "--layer", "layer2.0 (add)", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["node"] == "layer2.0 (add)" and payload["module_path"] == "layer2.0"
    assert main(["rf", "resnet18_small", "--layer", "layer2.0.downsample.1"]) == 0
    assert capsys.readouterr().out.startswith("resnet18_small layer2.0.downsample.1\n")
    assert main(["inspect", "resnet18_small", "sample", "--layer", "layer2.0 (add)"]) == 0
    out = capsys.readouterr().out
    assert "layer:  layer2.0 (add) (add)" in out and "add_2" not in out
    assert main(["explain", "resnet18_small", "sample", "--layer", "layer2.0", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["layer"] == "layer2.0" and payload["node"] == "layer2.0.relu2"  # the block's output
    assert main(["explain", "resnet18_small", "sample", "--layer", "layer2.0 (add)"]) == 1
    assert "no module ends at node 'layer2.0 (add)'" in capsys.readouterr().err
    assert main(["profile", "resnet18_small", "--repeats", "1", "--threads", "1", "--json"]) == 0
    nodes = json.loads(capsys.readouterr().out)["nodes"]
    assert [n["node"] for n in nodes] == [graph.node(n)["title"] for n in graph.order][1:]
