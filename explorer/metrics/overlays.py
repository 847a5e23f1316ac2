"""Per-node values for the graph's metric overlays, and their aggregate over a collapsed
block.

Static values come from the graph (parameters, FLOPs, output size), measured ones from a
latency profile (``latency.py``) or a stepped pass on the current image (each layer's
zero fraction: the share of its output that is exactly zero; a block shows the mean over
its layers, unlike the maps panel's "zeros in this map", which counts one node's output),
and a run's epoch gives gradient norm, weight change and dead-ReLU fraction
(``explorer.train.summaries``), mapped onto the nodes that call the module they belong to.
"""

from __future__ import annotations

import math

from explorer.graph.model_graph import ModelGraph
from explorer.train.records import GRAD_NORM, WEIGHT_CHANGE, EpochSummary

# A run's overlays are named after the epoch summary's figures (``records``).
ZERO_FRACTION = "zero_fraction"  # share of a layer's output that is exactly zero
OVERLAYS = ("params", "flops", "output_size", "latency_ms", ZERO_FRACTION, GRAD_NORM, WEIGHT_CHANGE, "dead_relu")
# How a block combines its members: counts and times add up, norms add in quadrature,
# fractions average, and a block's output is its last member's.
_SUM = {"params", "flops", "latency_ms"}
_QUADRATURE = {GRAD_NORM}
_MEAN = {ZERO_FRACTION, WEIGHT_CHANGE, "dead_relu"}


def static_metrics(graph: ModelGraph) -> dict[str, dict[str, float]]:
    """Parameters, FLOPs and output size (elements per image) of every node."""
    out = {}
    for node_id in graph.order:
        attrs = graph.node(node_id)
        shape = attrs.get("shape") or ()
        size = math.prod(shape[1:]) if len(shape) > 1 else (shape[0] if shape else 0)
        out[node_id] = {"params": int(attrs.get("params") or 0), "flops": int(attrs.get("flops") or 0), "output_size": int(size)}
    return out


def latency_metrics(profile) -> dict[str, dict[str, float]]:
    """``latency_ms`` per node from a ``LatencyProfile``."""
    return {n["node"]: {"latency_ms": n["ms"]} for n in profile.nodes}


def zero_fraction_metrics(stepper) -> dict[str, dict[str, float]]:
    """``zero_fraction`` of every node: the share of its output that is exactly zero, for
    the stepper's current input."""
    out = {}

    def record(index: int) -> None:
        value = stepper.activation()
        if value is not None and value.numel() and value.is_floating_point():
            out[stepper.nodes[index].name] = {ZERO_FRACTION: float((value == 0).float().mean())}

    stepper.reset()
    record(0)
    for index in stepper.steps_to(len(stepper) - 1):
        record(index)
    return out


def run_metrics(graph: ModelGraph, summaries: EpochSummary) -> dict[str, dict[str, float]]:
    """Gradient norm, weight change and dead-ReLU fraction of one epoch, per node.

    Args:
        graph: the model's graph.
        summaries: one epoch's summaries (``SummaryRecorder.end_epoch``'s).
    """
    by_module: dict[str, dict[str, float]] = {}
    for name, layer in summaries.layers.items():
        module, _, kind = name.rpartition(".")
        entry = by_module.setdefault(module, {"grad_sq": 0.0})
        entry["grad_sq"] += (layer.grad_norm or 0.0) ** 2
        if kind == "weight" and layer.weight_change is not None:
            entry[WEIGHT_CHANGE] = layer.weight_change
    for module, fraction in summaries.dead_relu.items():
        by_module.setdefault(module, {})["dead_relu"] = fraction
    out: dict[str, dict[str, float]] = {}
    for node_id in graph.order:
        attrs = graph.node(node_id)
        if attrs.get("op") != "call_module" or attrs.get("module_path") not in by_module:
            continue
        entry = by_module[attrs["module_path"]]
        values = {k: v for k, v in entry.items() if k != "grad_sq"}
        if "grad_sq" in entry and WEIGHT_CHANGE in entry:
            values[GRAD_NORM] = math.sqrt(entry["grad_sq"])
        out[node_id] = values
    return out


def merge(*parts: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Join per-node dicts (later parts add keys)."""
    out: dict[str, dict[str, float]] = {}
    for part in parts:
        for node, values in part.items():
            out.setdefault(node, {}).update(values)
    return out


def aggregate(graph: ModelGraph, per_node: dict[str, dict[str, float]], module_path: str) -> dict[str, float]:
    """The values of a collapsed module (block or stage): its members' combined."""
    members = set(graph.modules[module_path].nodes)
    return aggregate_nodes(per_node, [n for n in graph.order if n in members])


def aggregate_nodes(per_node: dict[str, dict[str, float]], members: list[str]) -> dict[str, float]:
    """The values of any group of nodes drawn as one (a closed block, a folded run of
    blocks), ``members`` in execution order."""
    out: dict[str, float] = {}
    for key in OVERLAYS:
        values = [per_node[n][key] for n in members if key in per_node.get(n, {})]
        if not values:
            continue
        if key in _SUM:
            out[key] = sum(values)
        elif key in _QUADRATURE:
            out[key] = math.sqrt(sum(v * v for v in values))
        elif key in _MEAN:
            out[key] = sum(values) / len(values)
        else:  # output_size: what leaves the block
            out[key] = values[-1]
    return out
