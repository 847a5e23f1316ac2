"""Per-node overlay values and their aggregate over a collapsed block."""

from __future__ import annotations

import math

import pytest
import torch

from explorer.activations.stepper import Stepper
from explorer.graph import build_graph
from explorer.graph.named import resolve_model
from explorer.metrics.overlays import (
    ZERO_FRACTION,
    aggregate,
    aggregate_nodes,
    merge,
    run_metrics,
    static_metrics,
    zero_fraction_metrics,
)
from explorer.train.records import EpochSummary


@pytest.fixture(scope="module")
def resnet():
    model, shape = resolve_model("resnet18_small", meta=False)
    return model.eval(), shape, build_graph(model, shape, name="resnet18_small")


def test_static_values_and_block_aggregate(resnet):
    model, _, graph = resnet
    values = static_metrics(graph)
    block = aggregate(graph, values, "layer1.0")
    params = sum(p.numel() for p in model.get_submodule("layer1.0").parameters())
    assert block["params"] == params == graph.modules["layer1.0"].params
    members = graph.modules["layer1.0"].nodes
    assert block["flops"] == sum(values[n]["flops"] for n in members)
    last = [n for n in graph.order if n in members][-1]
    assert block["output_size"] == values[last]["output_size"]


def test_zero_fraction_follows_the_image_and_a_block_takes_the_mean_of_its_layers(resnet):
    model, shape, graph = resnet
    stepper = Stepper(model, "cpu")
    stepper.set_input(torch.randn(1, *shape[1:], generator=torch.Generator().manual_seed(0)))
    values = zero_fraction_metrics(stepper)
    relu = next(n for n in graph.order if graph.node(n).get("layer_type") == "ReLU")
    assert 0 < values[relu][ZERO_FRACTION] < 1
    conv = next(n for n in graph.order if graph.node(n).get("layer_type") == "Conv2d")
    assert values[conv][ZERO_FRACTION] == 0.0
    members = [n for n in graph.order if n in set(graph.modules["layer1.0"].nodes)]
    shares = [values[n][ZERO_FRACTION] for n in members if n in values]
    assert aggregate_nodes(values, members)[ZERO_FRACTION] == pytest.approx(sum(shares) / len(shares))
    stepper.set_input(-torch.ones(1, *shape[1:]) * 0)
    zeros = zero_fraction_metrics(stepper)
    assert zeros[stepper.nodes[0].name][ZERO_FRACTION] == 1.0


def test_run_summaries_map_onto_module_nodes(resnet):
    _, _, graph = resnet
    summaries = EpochSummary.from_dict({
        "layers": {
            "conv1.weight": {"grad_norm": 3.0, "weight_change": 0.5},
            "fc.weight": {"grad_norm": 3.0, "weight_change": 0.2},
            "fc.bias": {"grad_norm": 4.0, "weight_change": 0.1},
        },
        "dead_relu": {"relu": 0.25},
    })
    values = run_metrics(graph, summaries)
    fc = next(n for n in graph.order if graph.node(n).get("module_path") == "fc")
    assert values[fc]["grad_norm"] == pytest.approx(5.0) and values[fc]["weight_change"] == 0.2
    relu = next(n for n in graph.order if graph.node(n).get("module_path") == "relu")
    assert values[relu]["dead_relu"] == 0.25
    merged = merge(static_metrics(graph), values)
    assert merged[fc]["params"] > 0 and "grad_norm" in merged[fc]
    whole = aggregate(graph, merged, "")
    assert whole["grad_norm"] == pytest.approx(math.sqrt(3.0**2 + 5.0**2))
