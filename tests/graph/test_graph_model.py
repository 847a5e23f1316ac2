"""Shapes, FLOPs, receptive fields, views (collapse/expand/fold), layout and JSON export."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from explorer.graph import (
    EDGE_KINDS,
    GraphTraceError,
    ModelGraph,
    build_graph,
    collapse,
    default_state,
    expand,
    expanded_state,
    make_view,
    prepare_view,
    unfold,
)
from explorer.graph.export import view_document

from .helpers import traced


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv2(torch.relu(self.conv1(x)))))
        return self.fc(torch.flatten(x, 1))


class Branchy(nn.Module):
    """Data-dependent control flow: fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        x = self.conv(x)
        if x.sum() > 0:
            x = x * 2
        return self.head(x.flatten(1))


def test_shapes_flops_and_receptive_fields_of_a_small_net():
    graph = build_graph(Tiny(), (1, 1, 16, 16))
    conv1, conv2, pool = graph.node("conv1"), graph.node("conv2"), graph.node("pool")
    assert conv1["shape"] == [1, 4, 16, 16]
    assert conv2["shape"] == [1, 8, 8, 8]
    assert conv1["flops"] == 2 * 4 * 1 * 9 * 16 * 16
    assert conv2["flops"] == 2 * 8 * 4 * 9 * 8 * 8
    assert conv1["params"] == 4 * 9 + 4
    assert (conv1["receptive_field"], conv1["effective_stride"]) == ([3, 3], [1, 1])
    assert (conv2["receptive_field"], conv2["effective_stride"]) == ([5, 5], [2, 2])
    assert (pool["receptive_field"], pool["effective_stride"]) == ([7, 7], [4, 4])
    assert graph.node("fc")["receptive_field"] == [7 + 3 * 4, 7 + 3 * 4]
    assert graph.total_params == sum(p.numel() for p in Tiny().parameters())


class Repeated(nn.Module):
    """Identical convolutions, a functional activation and a concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.convs = nn.ModuleList(nn.Conv2d(6, 6, 3, padding=1) for _ in range(3))
        self.fc = nn.Linear(12 * 8 * 8, 5)

    def forward(self, x):
        x = torch.nn.functional.relu(self.stem(x))
        first = x
        for conv in self.convs:
            x = torch.nn.functional.relu(conv(x))
        return self.fc(torch.flatten(torch.cat([first, x], 1), 1))


@pytest.mark.parametrize("on_meta", [False, True])
def test_repeated_layers_get_the_flop_counters_own_counts(on_meta):
    from torch.utils.flop_counter import FlopCounterMode

    model = Repeated()
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, 8, 8))
    one_conv = 2 * 6 * 6 * 9 * 8 * 8
    if on_meta:
        model = model.to("meta")
    graph = build_graph(model, (1, 1, 8, 8))
    convs = [n for n in graph.order if graph.node(n)["module_path"].startswith("convs.")]
    assert [graph.node(n)["flops"] for n in convs] == [one_conv] * 3
    assert graph.total_flops == counter.get_total_flops()
    assert graph.node("cat")["shape"] == [1, 12, 8, 8]
    assert graph.node("fc")["shape"] == [1, 5]


class WithAuxHead(nn.Module):
    """An auxiliary classifier that only runs in training, after the first stage."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.aux = nn.Sequential(nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
        self.stage2 = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x):
        x = self.stage1(x)
        aux = self.aux(x) if self.training else None
        out = self.fc(torch.flatten(self.stage2(x), 1))
        return (out, aux) if self.training else out


@pytest.mark.parametrize("on_meta", [False, True])
def test_aux_head_is_attached_where_its_input_comes_from(on_meta):
    model = WithAuxHead()
    if on_meta:
        model = model.to("meta")
    graph = build_graph(model, (1, 1, 8, 8))
    aux_nodes = [n for n in graph.order if graph.node(n)["aux"]]
    assert [graph.node(n)["module_path"] for n in aux_nodes] == ["aux.0", "aux.1", "aux"]
    first = aux_nodes[0]
    (source,) = graph.graph.predecessors(first)
    assert graph.node(source)["module_path"] == "stage1.1"
    assert graph.graph.edges[source, first]["kind"] == "aux"
    assert graph.order.index(first) == graph.order.index(source) + 1
    assert graph.node(aux_nodes[1])["shape"] == [1, 3]
    assert model.training  # put back as it was


class UntraceableHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent: fx cannot trace this head
            x = x * 2
        return self.fc(x.flatten(1))


class WithUntraceableHead(WithAuxHead):
    def __init__(self) -> None:
        super().__init__()
        self.aux = UntraceableHead()


class TrainingPassFails(WithAuxHead):
    def forward(self, x):
        if self.training:
            x = x.view(3, -1)  # cannot reshape a batch of 2: the pass finding heads fails
        return super().forward(x)


@pytest.mark.parametrize("model_class, reason", [
    (WithUntraceableHead, "auxiliary head aux not shown: fx cannot trace aux: `if x.sum() > 0:"),
    (TrainingPassFails, "auxiliary heads not shown: the training-mode pass that finds them failed"),
])
def test_an_aux_head_that_cannot_be_attached_is_reported_not_dropped_silently(model_class, reason):
    graph = build_graph(model_class(), (1, 1, 8, 8))
    assert graph.traced
    assert not any(graph.node(n)["aux"] for n in graph.order)
    assert graph.warning is not None and graph.warning.startswith(reason)


def test_trace_matches_plain_symbolic_trace_node_for_node():
    from explorer.graph.tracer import fx_trace

    model = Repeated().eval()
    plain = torch.fx.symbolic_trace(model).graph
    ours = fx_trace(model)

    def describe(g):
        return [(n.name, n.op, str(n.target), str(n.args), str(n.kwargs),
                 dict(n.meta.get("nn_module_stack", {}))) for n in g.nodes]

    assert describe(ours) == describe(plain)


def test_vgg16_pool5_receptive_field_is_212():
    graph = traced("vgg16")
    pools = [n for n in graph.order if graph.node(n)["category"] == "pool"
             and graph.node(n)["module_path"].startswith("features")]
    assert graph.node(pools[-1])["receptive_field"] == [212, 212]
    assert graph.node(pools[-1])["effective_stride"] == [32, 32]


def test_trace_leaves_the_model_untouched_and_in_its_mode():
    model = Tiny().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    build_graph(model, (1, 1, 16, 16))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_untraceable_model_names_the_operation_and_falls_back_to_hooks():
    with pytest.raises(GraphTraceError) as info:
        build_graph(Branchy(), (1, 1, 16, 16), fallback=False)
    message = str(info.value)
    assert "if x.sum() > 0" in message and "Branchy" in message
    graph = build_graph(Branchy(), (1, 1, 16, 16))
    assert not graph.traced
    assert "if x.sum() > 0" in graph.warning and "forward hooks" in graph.warning
    assert graph.order == ["x", "conv", "head", "output"]
    assert graph.node("conv")["shape"] == [1, 4, 14, 14]
    assert graph.node("head")["shape"] == [1, 10]
    assert graph.graph.has_edge("conv", "head")
    view, layout = prepare_view(graph)
    assert len(view.order) == 4 and len(layout.positions) == 4


def test_wrong_input_shape_is_a_user_error():
    with pytest.raises(GraphTraceError, match="cannot run Tiny"):
        build_graph(Tiny(), (1, 3, 16, 16))


def test_default_view_collapses_blocks_and_expand_collapse_round_trip():
    graph = traced("resnet50")
    state = default_state(graph)
    view = make_view(graph, state)
    blocks = [u for u in view.order if view.graph.nodes[u]["unit"] == "block"]
    assert len(blocks) == 16  # no run of 6 identical bottlenecks in ResNet-50
    opened = make_view(graph, expand(state, "layer2.0"))
    assert "m:layer2.0" not in opened.order
    assert "layer2_0_conv1" in opened.order and "m:layer2.0.downsample" not in opened.order
    assert opened.unit_of["layer2_0_downsample_0"] == "layer2_0_downsample_0"
    kinds = {a["kind"] for _, v, a in opened.graph.in_edges("add_3", data=True)}
    assert kinds == {"plain", "residual"}
    assert make_view(graph, collapse(graph, expand(state, "layer2.0"), "layer2.0")).order == view.order
    everything = make_view(graph, expanded_state(graph))
    assert everything.order == graph.order


def test_runs_of_identical_blocks_fold_and_unfold():
    graph = traced("resnet101")
    view = make_view(graph, default_state(graph))
    folds = [u for u in view.order if view.graph.nodes[u]["unit"] == "fold"]
    assert len(folds) == 1
    attrs = view.graph.nodes[folds[0]]
    assert attrs["count"] == 22 and attrs["label"] == "×22 Bottleneck"
    assert attrs["blocks"][0] == "layer3.1" and attrs["blocks"][-1] == "layer3.22"
    unfolded = make_view(graph, unfold(default_state(graph), "layer3.1"))
    assert not [u for u in unfolded.order if unfolded.graph.nodes[u]["unit"] == "fold"]
    assert len(unfolded.order) == len(view.order) + 21


def test_identical_runs_say_why_resnet50_has_nothing_to_fold():
    from explorer.graph import identical_runs

    resnet50 = traced("resnet50")
    runs = identical_runs(resnet50, default_state(resnet50))
    longest = max(runs, key=len)
    assert longest == [f"layer3.{i}" for i in range(1, 6)]  # 5: one short of folding
    assert len(longest) < default_state(resnet50).min_run
    assert identical_runs(resnet50, expanded_state(resnet50)) == []  # every block open
    resnet101 = traced("resnet101")
    assert max(map(len, identical_runs(resnet101, default_state(resnet101)))) == 22


def _assert_layout_sane(view, layout):
    rects = sorted(layout.rect(u) for u in view.order)
    by_y = sorted(rects, key=lambda r: r[1])
    for i, a in enumerate(by_y):
        for b in by_y[i + 1:]:
            if b[1] >= a[1] + a[3]:
                break
            overlap_x = a[0] < b[0] + b[2] and b[0] < a[0] + a[2]
            assert not overlap_x, (a, b)
    for u, v in view.graph.edges():
        assert layout.positions[u][1] < layout.positions[v][1], (u, v)
        assert layout.routes[(u, v)]


@pytest.mark.parametrize("name", ["googlenet", "densenet121"])
def test_layout_has_no_overlaps_and_edges_point_down(name):
    graph = traced(name)
    for state in (default_state(graph), expanded_state(graph)):
        view, layout = prepare_view(graph, state)
        _assert_layout_sane(view, layout)


def test_expanded_densenet_bundles_dense_edges_on_a_bus():
    graph = traced("densenet121")
    view, layout = prepare_view(graph, expanded_state(graph))
    bundled = [(u, v) for u, v, a in view.graph.edges(data=True) if a.get("bundled")]
    assert len(bundled) > 300
    for u, v in bundled:
        route = layout.routes[(u, v)]
        assert len(route) == 4 and route[1][0] == route[2][0]  # along a vertical bus
        right = max(layout.positions[w][0] + layout.sizes[w][0] / 2 for w in (u, v))
        assert route[1][0] > right
    # a bus per dense block: few distinct lanes for hundreds of edges
    assert len({layout.routes[e][1][0] for e in bundled}) <= 4


def test_inception_branches_sit_side_by_side():
    graph = traced("googlenet")
    view, layout = prepare_view(graph, expand(default_state(graph), "inception3a"))
    firsts = ["inception3a_branch1_conv", "inception3a_branch2_0_conv",
              "inception3a_branch3_0_conv", "inception3a_branch4_0"]
    ys = {layout.positions[u][1] for u in firsts}
    xs = {layout.positions[u][0] for u in firsts}
    assert len(ys) == 1 and len(xs) == 4


def test_json_export_and_round_trip(tmp_path):
    graph = traced("googlenet")
    view, layout = prepare_view(graph)
    document = json.loads(json.dumps(view_document(graph, view, layout)))
    assert {e["kind"] for e in document["edges"]} <= set(EDGE_KINDS)
    assert "aux" in {e["kind"] for e in document["edges"]}
    node = next(n for n in document["nodes"] if n["id"] == "m:inception4a")
    assert node["block_type"] == "inception" and node["shape"] == [1, 512, 14, 14]
    assert {"x", "y", "width", "height", "params", "flops", "receptive_field"} <= set(node)
    layer = next(n for n in document["nodes"] if n["id"] == "conv1_conv")
    assert layer["hparams"]["kernel_size"] == [7, 7] and layer["category"] == "conv"
    again = ModelGraph.from_dict(json.loads(json.dumps(graph.to_dict())))
    assert again.order == graph.order and again.modules.keys() == graph.modules.keys()
    assert again.graph.edges["inception3a_branch1_relu", "cat"]["kind"] == "branch"


def test_a_builder_that_reads_its_weights_is_built_for_real_not_on_meta():
    from explorer.graph import resolve_model

    # torchvision's RegNet copies values into its weights while building, which the meta
    # device refuses with NotImplementedError; ResNet-18 builds on meta.
    regnet, shape = resolve_model("torchvision.regnet_x_400mf")
    assert not next(regnet.parameters()).is_meta and shape == (1, 3, 224, 224)
    resnet, _ = resolve_model("torchvision.resnet18")
    assert next(resnet.parameters()).is_meta
