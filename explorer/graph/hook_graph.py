"""A module-level graph recorded with forward hooks, for models fx cannot trace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx
import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from explorer.graph import facts
from explorer.graph.tracer import GraphTraceError


def record_hook_graph(model: nn.Module, input_shape: tuple[int, ...], *, warning: str,
                      ) -> tuple[nx.DiGraph, list[str]]:
    """Module-level node graph of one real forward pass, recorded with forward hooks.

    Used when fx cannot trace a model (data-dependent control flow): it follows the path
    the data actually took. Each leaf module call is a node; it is linked to the call that
    produced its input tensor, or to the previous call when the input came from plain
    tensor arithmetic the hooks cannot see (those edges carry ``inferred``).

    Returns:
        The node graph and its node ids in execution order, for ``finish_graph``.

    Raises:
        GraphTraceError: the forward pass fails; the message starts with ``warning``.
    """
    graph = nx.DiGraph()
    order: list[str] = []
    producer: dict[int, str] = {}
    keep: list[Any] = []
    seen: set[str] = set()
    counts: dict[str, int] = {}
    pending: dict[int, tuple[list[int], int]] = {}
    handles = []
    counter = FlopCounterMode(display=False)

    graph.add_node("x", id="x", op="placeholder", target="x", module_path="", shape=list(input_shape),
                   dtype="float32", flops=0, params=0, n_inputs=0, aux=False,
                   layer_type="input", category="input", hparams={}, label="", summary="input")
    order.append("x")

    def pre_hook(module: nn.Module, args: tuple) -> None:
        ids = [id(a) for a in args if isinstance(a, Tensor)]
        pending[id(module)] = (ids, counter.get_total_flops())

    def post_hook(path: str) -> Callable:
        def hook(module: nn.Module, _args: tuple, output: Any) -> None:
            ids, flops_before = pending.pop(id(module), ([], 0))
            base = path.replace(".", "_")
            counts[base] = counts.get(base, 0) + 1
            node_id = base if counts[base] == 1 else f"{base}_{counts[base] - 1}"
            tensor = output if isinstance(output, Tensor) else next(
                (o for o in output if isinstance(o, Tensor)), None) if isinstance(output, (tuple, list)) else None
            attrs: dict[str, Any] = {
                "op": "call_module", "target": path, "module_path": path,
                "shape": list(tensor.shape) if tensor is not None else None,
                "dtype": str(tensor.dtype).replace("torch.", "") if tensor is not None else None,
                "flops": int(counter.get_total_flops() - flops_before), "params": 0,
                "n_inputs": len(ids), "aux": False,
            }
            attrs.update(facts.module_facts(module))
            if path not in seen:
                seen.add(path)
                attrs["params"] = sum(p.numel() for p in module.parameters() if p.requires_grad)
            attrs["label"] = ""  # the title's tail, as a traced graph's (graph/titles.py)
            attrs["summary"] = facts.summary(attrs)
            graph.add_node(node_id, id=node_id, **attrs)
            sources = [producer[i] for i in ids if i in producer]
            if not sources and order:
                graph.add_edge(order[-1], node_id, kind="plain", inferred=True,
                               shape=graph.nodes[order[-1]]["shape"])
            for src in dict.fromkeys(sources):
                graph.add_edge(src, node_id, kind="plain", shape=graph.nodes[src]["shape"])
            order.append(node_id)
            if tensor is not None:
                producer[id(tensor)] = node_id
                keep.append(tensor)
        return hook

    for path, module in model.named_modules():
        if path and not any(True for _ in module.children()):
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(post_hook(path)))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.zeros(input_shape, device=device)
    producer[id(x)] = "x"
    try:
        with torch.no_grad(), counter:
            out = model(x)
    except Exception as exc:  # noqa: BLE001 - reported: a user's forward can raise anything
        raise GraphTraceError(f"{warning}; running it forward failed too: {str(exc).splitlines()[0]}") from exc
    finally:
        for h in handles:
            h.remove()
    out_tensor = out if isinstance(out, Tensor) else None
    graph.add_node("output", id="output", op="output", target="output", module_path="",
                   shape=list(out_tensor.shape) if out_tensor is not None else None,
                   dtype=None, flops=0, params=0, n_inputs=1, aux=False, layer_type="output",
                   category="output", hparams={}, label="output", summary="output")
    src = producer.get(id(out_tensor)) if out_tensor is not None else None
    src = src or order[-1]
    graph.add_edge(src, "output", kind="plain", shape=graph.nodes[src]["shape"],
                   inferred=src != producer.get(id(out_tensor)))
    order.append("output")
    return graph, order
