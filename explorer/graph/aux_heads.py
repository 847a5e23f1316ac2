"""Auxiliary classifiers (GoogLeNet, Inception v3): found, traced and attached.

Auxiliary heads run only in training mode, so the eval-mode trace never calls them. They
are found as the top-most modules with parameters the trace leaves unused; a
training-mode pass with forward hooks tells which tensor reaches each; each head is then
traced on its own and its nodes are inserted after the node that feeds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import networkx as nx
import torch
import torch.fx
from torch import Tensor, nn

from explorer.graph import facts
from explorer.graph.nodes import join_path, node_attrs
from explorer.graph.shapes import on_meta, propagate_shapes
from explorer.graph.tracer import GraphTraceError, describe_trace_failure, fx_trace

# What running or tracing a head's code on the meta device raises when it cannot: torch's
# own errors (RuntimeError, NotImplementedError for a missing meta kernel), fx's
# TraceError (a ValueError), a user's TypeError/AssertionError, and our GraphTraceError.
# Anything else is a bug here and propagates.
_HEAD_FAILURES = (RuntimeError, NotImplementedError, TypeError, ValueError, AssertionError,
                  GraphTraceError)


def _covered(path: str, used: set[str]) -> bool:
    if path in used:
        return True
    parts = path.split(".")
    # inside a leaf module that was called
    for i in range(1, len(parts)):
        if ".".join(parts[:i]) in used:
            return True
    return False


def _unused_modules(model: nn.Module, fx_graph: torch.fx.Graph) -> list[str]:
    """Top-most modules with parameters that the eval-mode trace never calls."""
    used = {str(n.target) for n in fx_graph.nodes if n.op in ("call_module", "get_attr")}
    used_prefixes = set()
    for path in used:
        parts = path.split(".")
        for i in range(1, len(parts) + 1):
            used_prefixes.add(".".join(parts[:i]))
    out: list[str] = []
    for path, module in model.named_modules():
        if not path or any(path.startswith(p + ".") for p in out):
            continue
        if path in used_prefixes or _covered(path, used):
            continue
        if any(True for _ in module.parameters()):
            out.append(path)
    return out


def _identity(x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


def _empty_of(shape: list[int]) -> Callable[..., Tensor]:
    def forward(*args: Any, **kwargs: Any) -> Tensor:
        return torch.empty(shape, device="meta")
    return forward


class _AllHeadsFound(Exception):
    """Raised inside the training-mode pass once every head's input is known."""


def _aux_sources(model: nn.Module, candidates: list[str], input_shape: tuple[int, ...],
                 known_shapes: dict[str, list[int]] | None = None) -> dict[str, str]:
    """Map each candidate module to the module whose output feeds it in training mode.

    Raises:
        One of ``_HEAD_FAILURES`` when the training-mode pass fails.
    """
    produced: dict[int, str] = {}
    consumed: dict[str, int] = {}
    keep: list[Any] = []  # holding outputs keeps their ids unique for the whole pass
    handles = []
    candidate_set = set(candidates)

    def record_output(path: str) -> Callable:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            if isinstance(output, Tensor) and path not in candidate_set:
                produced[id(output)] = path
                keep.append(output)
        return hook

    def record_input(path: str) -> Callable:
        def hook(_module: nn.Module, args: tuple) -> None:
            if args and isinstance(args[0], Tensor) and path not in consumed:
                consumed[path] = id(args[0])
                if len(consumed) == len(candidate_set):
                    # The rest of the forward (the last head itself, the later stages,
                    # the classifier) cannot tell anything more.
                    raise _AllHeadsFound
        return hook

    for path, module in model.named_modules():
        if path in candidate_set:
            handles.append(module.register_forward_pre_hook(record_input(path)))
        elif path and not any(path.startswith(c + ".") for c in candidates):
            handles.append(module.register_forward_hook(record_output(path)))
    was_training = model.training
    model.train()
    # This pass only needs to know which tensor reaches each head, not to compute: leaf
    # layers whose output shape the eval trace already knows return an empty tensor of
    # that shape, shape-preserving ones pass their input through (batch norm on the meta
    # device is dozens of Python primitives). That made Inception v3's pass 10x cheaper.
    # BN refuses one value per channel in training (a head's own BN still runs)
    batch = (max(2, input_shape[0]), *input_shape[1:])
    known_shapes = {k: [batch[0], *v[1:]] for k, v in (known_shapes or {}).items()}
    patched = []
    for path, m in model.named_modules():
        if "forward" in vars(m) or any(path.startswith(c + ".") or path == c for c in candidates):
            continue
        if path in known_shapes:
            m.forward = _empty_of(known_shapes[path])
            patched.append(m)
        elif isinstance(m, facts.SHAPE_PRESERVING):
            m.forward = _identity
            patched.append(m)
    try:
        with torch.no_grad():
            x = torch.empty(batch, device="meta")
            if on_meta(model):
                model(x)
            else:  # real weights: run the same layers on meta copies of them
                meta_state = {k: torch.empty_like(v, device="meta")
                              for k, v in list(model.named_parameters()) + list(model.named_buffers())}
                torch.func.functional_call(model, meta_state, (x,))
    except _AllHeadsFound:
        pass
    finally:
        model.train(was_training)
        for m in patched:
            del m.forward
        for h in handles:
            h.remove()
    return {c: produced[consumed[c]] for c in candidates if consumed.get(c) in produced}


@dataclasses.dataclass
class AuxHead:
    """One auxiliary head, traced on its own.

    Attributes:
        path: the head's module path (``aux1``).
        source: id of the main-line node whose output feeds it.
        fx_graph: the head's eval-mode trace (its placeholder stands for ``source``).
        ids: fx node name in ``fx_graph`` -> node id in the graph and the stepper
            (``aux1_fc2``); the placeholder maps to ``source``.
    """

    path: str
    source: str
    fx_graph: torch.fx.Graph
    ids: dict[str, str]


def find_aux_heads(model: nn.Module, fx_graph: torch.fx.Graph, nodes: list[tuple[str, str]],
                   input_shape: tuple[int, ...], known_shapes: dict[str, list[int]] | None = None,
                   ) -> tuple[list[AuxHead], list[str]]:
    """The auxiliary heads of ``model`` and the main-line node feeding each.

    The graph view and the feature-map stepper both call this, so they give the heads'
    nodes the same ids.

    Args:
        model: the network (eval-mode ``fx_graph`` is its trace).
        fx_graph: the main-line trace.
        nodes: (node id, module path) of every main-line node, in execution order.
        input_shape: (N, C, H, W) for the training-mode pass that finds the sources.
        known_shapes: output shapes of modules called once, to make that pass cheap.

    Returns:
        The heads, and one line per head that could not be traced, saying why.
    """
    candidates = _unused_modules(model, fx_graph)
    if not candidates:
        return [], []
    try:
        sources = _aux_sources(model, candidates, tuple(input_shape), known_shapes)
    except _HEAD_FAILURES as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [], [f"auxiliary heads not shown: the training-mode pass that finds them failed: {reason}"]
    modules = dict(model.named_modules())
    taken = {node_id for node_id, _ in nodes}
    heads: list[AuxHead] = []
    problems: list[str] = []
    for path, source_module in sources.items():
        source = None
        for node_id, module_path in reversed(nodes):
            if module_path == source_module or module_path.startswith(source_module + "."):
                source = node_id
                break
        if source is None:
            continue
        head = modules[path]
        was_training = head.training
        head.eval()
        try:
            sub = fx_trace(head)
        except _HEAD_FAILURES as exc:
            problems.append(f"auxiliary head {path} not shown: {describe_trace_failure(path, exc)}")
            continue
        finally:
            head.train(was_training)
        prefix_id = path.replace(".", "_")
        ids: dict[str, str] = {}
        for n in sub.nodes:
            if n.op == "placeholder":
                ids[n.name] = source
                continue
            node_id = f"{prefix_id}_{n.name}"
            while node_id in taken:
                node_id += "_"
            taken.add(node_id)
            ids[n.name] = node_id
        heads.append(AuxHead(path, source, sub, ids))
    return heads, problems


def insert_heads(order: list[str], heads: list[AuxHead]) -> list[str]:
    """``order`` with each head's nodes right after the node that feeds it."""
    out = list(order)
    for head in heads:
        at = out.index(head.source) + 1
        out[at:at] = [head.ids[n.name] for n in head.fx_graph.nodes if n.op != "placeholder"]
    return out


def attach_aux_heads(model: nn.Module, fx_graph: torch.fx.Graph, graph: nx.DiGraph,
                     order: list[str], modules: dict[str, nn.Module], seen: set[str]) -> list[str]:
    """Insert the nodes of every auxiliary head after the node that feeds it.

    Returns:
        One line per head that could not be attached, saying why (empty when all were);
        the graph without them is still right, so the caller shows these as a warning.
    """
    input_shape = tuple(graph.nodes[order[0]]["shape"])
    calls: dict[str, int] = {}
    for n in fx_graph.nodes:
        if n.op == "call_module":
            calls[str(n.target)] = calls.get(str(n.target), 0) + 1
    known = {str(n.target): graph.nodes[n.name]["shape"] for n in fx_graph.nodes
             if n.op == "call_module" and calls[str(n.target)] == 1 and graph.nodes[n.name]["shape"]}
    nodes = [(n, graph.nodes[n]["module_path"]) for n in order]
    heads, problems = find_aux_heads(model, fx_graph, nodes, input_shape, known)
    attached = []
    for head in heads:
        if graph.nodes[head.source]["shape"] is None:
            continue
        module = modules[head.path]
        was_training = module.training
        module.eval()
        try:
            results = propagate_shapes(head.fx_graph, module, [tuple(graph.nodes[head.source]["shape"])])
        except GraphTraceError as exc:
            problems.append(f"auxiliary head {head.path} not shown: {exc}")
            continue
        except _HEAD_FAILURES as exc:
            problems.append(f"auxiliary head {head.path} not shown: {describe_trace_failure(head.path, exc)}")
            continue
        finally:
            module.train(was_training)
        sub_modules = {join_path(head.path, k): v for k, v in module.named_modules()}
        sub_modules[""] = model
        for n in head.fx_graph.nodes:
            if n.op == "placeholder":
                continue
            node_id = head.ids[n.name]
            attrs = node_attrs(n, sub_modules, results, seen, prefix=head.path)
            if n.op == "output":
                attrs["label"] = f"{head.path} output"
            graph.add_node(node_id, id=node_id, **attrs)
            for i in n.all_input_nodes:
                src = head.ids[i.name]
                graph.add_edge(src, node_id, kind="aux", shape=graph.nodes[src]["shape"])
        attached.append(head)
    order[:] = insert_heads(order, attached)
    return problems
