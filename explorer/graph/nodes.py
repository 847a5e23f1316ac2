"""The attributes of one graph node: what it is, its shape, parameters and label."""

from __future__ import annotations

from typing import Any

import torch.fx
from torch import nn

from explorer.graph import facts
from explorer.graph.branch_names import display_name
from explorer.graph.shapes import NodeResults
from explorer.graph.tracer import module_path_of


def _leaf_params(module: nn.Module) -> int:
    """Trainable parameters of a layer."""
    if module._modules:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)
    unique = {id(p): p for p in module._parameters.values() if p is not None and p.requires_grad}
    return sum(p.numel() for p in unique.values())


def node_attrs(
    n: torch.fx.Node,
    model_modules: dict[str, nn.Module],
    results: NodeResults,
    seen_modules: set[str],
    prefix: str = "",
) -> dict[str, Any]:
    """The attribute dict of fx node ``n`` (see ``ModelGraph``'s node attributes).

    Args:
        n: the node.
        model_modules: the model's modules by path (``""`` is the model itself).
        results: shapes, dtypes and FLOPs from :func:`~explorer.graph.shapes.propagate_shapes`.
        seen_modules: paths whose parameters were counted already; a module or parameter
            used twice owns its weights once. Updated here.
        prefix: module path of an auxiliary head traced on its own, which ``n`` belongs to.
    """
    shape, dtype, flops = results.get(n.name, (None, None, 0))
    tensor_inputs = [i for i in n.all_input_nodes if results.get(i.name, (None,))[0] is not None]
    owner = module_path_of(n)
    attrs: dict[str, Any] = {
        "op": n.op,
        "target": str(n.target) if n.op != "call_function" else facts.function_name(n.target),
        "module_path": join_path(prefix, owner),
        "shape": shape,
        "dtype": dtype,
        "flops": int(flops),
        "params": 0,
        "n_inputs": len(tensor_inputs),
        "aux": bool(prefix),
    }
    if n.op == "placeholder":
        attrs.update(layer_type="input", category="input", hparams={})
    elif n.op == "output":
        attrs.update(layer_type="output", category="output", hparams={})
    elif n.op == "call_module":
        module = model_modules[join_path(prefix, str(n.target))]
        attrs.update(facts.module_facts(module))
        key = join_path(prefix, str(n.target))
        if key not in seen_modules:  # a module called twice owns its weights once
            seen_modules.add(key)
            attrs["params"] = _leaf_params(module)
    elif n.op == "get_attr":
        attrs["target"] = join_path(prefix, str(n.target))  # the parameter's path in the model
        attrs.update(layer_type="parameter", category="other", hparams={})
        value = model_modules.get("")
        try:
            tensor = _fetch(value, join_path(prefix, str(n.target))) if value is not None else None
        except AttributeError:
            tensor = None
        if isinstance(tensor, nn.Parameter) and join_path(prefix, str(n.target)) not in seen_modules:
            seen_modules.add(join_path(prefix, str(n.target)))
            attrs["params"] = tensor.numel()
    else:
        attrs.update(facts.function_facts(n.target, n.args, n.kwargs, len(tensor_inputs)))
    # The label is the title's tail (graph/titles.py); the title needs every node, so
    # finish_graph writes both. What a layer *is* overrides it here.
    attrs["label"] = ""
    if n.op in ("call_module", "call_function", "call_method"):
        # What the layer is (an Inception branch's "3×3 reduce", LeNet-5's "C3").
        named = display_name(model_modules, attrs["module_path"],
                             None if n.op == "call_module" else attrs["target"])
        if named:
            attrs["label"] = named
    attrs["summary"] = facts.summary(attrs)
    return attrs


def _fetch(root: nn.Module, path: str) -> Any:
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def join_path(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return f"{prefix}.{path}" if path else prefix

