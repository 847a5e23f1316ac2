"""Trace a model into a :class:`ModelGraph`: the entry point of the graph package.

The steps live in modules named after them:

- :mod:`~explorer.graph.tracer`: the fx trace (shared with the feature-map stepper, so
  node ids are the stepper's node names) and the one-line description of a failure;
- :mod:`~explorer.graph.shapes`: output shapes, dtypes and FLOPs of every node;
- :mod:`~explorer.graph.nodes`: each node's attributes (kind, parameters, label);
- :mod:`~explorer.graph.titles`: each node's one shown name, shared with the stepper;
- :mod:`~explorer.graph.aux_heads`: auxiliary classifiers, which run only in training;
- :mod:`~explorer.graph.receptive_field` (the one receptive-field computation),
  :mod:`~explorer.graph.hierarchy` and :mod:`~explorer.graph.edges`: what
  :func:`finish_graph` adds to the node graph;
- :mod:`~explorer.graph.hook_graph`: the module-level fallback for untraceable models.
"""

from __future__ import annotations

import networkx as nx
import torch.fx
from torch import nn

from explorer.graph.aux_heads import attach_aux_heads
from explorer.graph.edges import classify_edges, demote_plain_adds
from explorer.graph.hierarchy import build_hierarchy
from explorer.graph.hook_graph import record_hook_graph
from explorer.graph.model_graph import ModelGraph
from explorer.graph.nodes import node_attrs
from explorer.graph.receptive_field import receptive_fields
from explorer.graph.shapes import propagate_shapes
from explorer.graph.titles import node_label, node_titles, repeat_suffix
from explorer.graph.tracer import GraphTraceError, describe_trace_failure, fx_trace

__all__ = ["GraphTraceError", "build_graph", "build_hook_graph", "describe_trace_failure",
           "finish_graph"]


def build_graph(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    name: str | None = None,
    fallback: bool = True,
) -> ModelGraph:
    """Trace ``model`` on an input of ``input_shape`` into a :class:`ModelGraph`.

    The model is put in eval mode for the trace (and its mode restored afterwards); its
    weights are never used for arithmetic and never modified.

    Args:
        model: the network; parameters may live on the meta device.
        input_shape: (N, C, H, W).
        name: shown as the graph's name; defaults to the class name.
        fallback: when fx cannot trace the model, record a module-level graph with
            forward hooks instead (``traced`` False, ``warning`` says why). When False,
            raise :class:`GraphTraceError`.

    Raises:
        GraphTraceError: fx failed and ``fallback`` is False, or the model fails even to
            run forward.
    """
    name = name or type(model).__name__
    input_shape = tuple(int(d) for d in input_shape)
    was_training = model.training
    model.eval()
    try:
        try:
            fx_graph = fx_trace(model)
        except Exception as exc:  # noqa: BLE001 - reported: fx raises TraceError, TypeError, RuntimeError...
            message = describe_trace_failure(name, exc)
            if not fallback:
                raise GraphTraceError(message) from exc
            return build_hook_graph(model, input_shape, name=name, warning=message)
        return _graph_from_trace(model, fx_graph, input_shape, name)
    finally:
        model.train(was_training)


def build_hook_graph(model: nn.Module, input_shape: tuple[int, ...], *, name: str,
                     warning: str) -> ModelGraph:
    """Module-level graph of one real forward pass (see :mod:`~explorer.graph.hook_graph`).

    Raises:
        GraphTraceError: the model fails to run forward; the message starts with ``warning``.
    """
    graph, order = record_hook_graph(model, input_shape, warning=warning)
    full_warning = f"{warning}; showing a module-level graph recorded with forward hooks instead"
    return finish_graph(model, graph, order, name, input_shape, traced=False, warning=full_warning)


def _graph_from_trace(model: nn.Module, fx_graph: torch.fx.Graph, input_shape: tuple[int, ...],
                      name: str) -> ModelGraph:
    placeholders = [n for n in fx_graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise GraphTraceError(
            f"{name}: forward() takes {len(placeholders)} inputs; only single-input models can be drawn"
        )
    results = propagate_shapes(fx_graph, model, [input_shape])
    modules = dict(model.named_modules())
    graph = nx.DiGraph()
    order: list[str] = []
    seen: set[str] = set()
    for n in fx_graph.nodes:
        attrs = node_attrs(n, modules, results, seen)
        graph.add_node(n.name, id=n.name, **attrs)
        order.append(n.name)
        for i in n.all_input_nodes:
            graph.add_edge(i.name, n.name, kind="plain", shape=results.get(i.name, (None,))[0])
    problems = attach_aux_heads(model, fx_graph, graph, order, modules, seen)
    warning = "; ".join(problems) if problems else None
    return finish_graph(model, graph, order, name, input_shape, traced=True, warning=warning)


def finish_graph(model: nn.Module, graph: nx.DiGraph, order: list[str], name: str,
                 input_shape: tuple[int, ...], *, traced: bool, warning: str | None = None,
                 ) -> ModelGraph:
    """Add titles, receptive fields, the module hierarchy and edge kinds to a node graph."""
    name_nodes(graph, order)
    receptive_fields(graph, order, name)
    demote_plain_adds(graph, order)
    records = build_hierarchy(graph, order, model)
    classify_edges(graph, order, records)
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelGraph(name=name, input_shape=input_shape, graph=graph, modules=records,
                      order=order, traced=traced, warning=warning, total_params=total)


def name_nodes(graph: nx.DiGraph, order: list[str]) -> None:
    """Give every node its title (:mod:`explorer.graph.titles`, as the stepper does) and,
    where nothing better names it, the title's tail as its label."""
    nodes = [graph.nodes[n] for n in order]
    titles = node_titles((a["op"], a.get("module_path", ""), str(a.get("target", ""))) for a in nodes)
    for attrs, title in zip(nodes, titles):
        attrs["title"] = title
        suffix = repeat_suffix(title)
        if not attrs.get("label"):
            attrs["label"] = node_label(title, attrs["op"], attrs.get("module_path", ""),
                                        str(attrs.get("target", "")))
        elif suffix and not attrs["label"].endswith(suffix):
            attrs["label"] += suffix  # a module called twice: "3×3 reduce #2"
