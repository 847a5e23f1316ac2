"""An exported program's aten graph turned back into standard torch.nn layers.

``torch.export`` records aten calls (``aten.conv2d``, ``aten.batch_norm``...) and, in each
node's ``nn_module_stack``, the module that made the call. Where that module is a standard
torch.nn layer and its calls match the layer's forward exactly, the calls become one
``call_module`` node to a fresh layer of that class at the original path, holding the
program's weights; other aten calls become their plain torch/operator forms where the
arguments agree (``aten.add.Tensor`` -> ``operator.add``), so the graph, stepper and
explainers see what ``torch.fx.symbolic_trace`` of the original model would give. Anything
else stays an aten call, which still runs and traces.

In-place aten ops (``relu_``, ``add_`` from ``out += identity``) are made out-of-place only
when nothing else could see the mutation: their input has no other user and is no view.

Over 400 lines because each standard layer needs its own exact op pattern (decomposed forms
included) next to the in-place and aliasing rules that decide when a rewrite is safe.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.export.graph_signature import InputKind, OutputKind

aten = torch.ops.aten
_NAME = re.compile(r"(?!__)[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_KEEP_META = ("nn_module_stack", "stack_trace")


def valid_path(path: str) -> bool:
    """A dotted attribute path that nn.Module can hold (no dunders, no empty parts)."""
    return bool(path) and all(_NAME.fullmatch(part) for part in path.split("."))


class ProgramContainer(nn.Module):
    """A module of the original model that the program keeps only as a path (a block, a
    stage); subclasses carry the original class name, which the graph view reads."""

    source_class = ""


_CONTAINERS: dict[str, type[ProgramContainer]] = {}


def _container_class(source: str) -> type[ProgramContainer]:
    if source not in _CONTAINERS:
        short = re.sub(r"\W", "_", source.rsplit(".", 1)[-1]) or "Module"
        _CONTAINERS[source] = type(short, (ProgramContainer,), {"__module__": __name__,
                                                                 "__qualname__": short,
                                                                 "source_class": source})
    return _CONTAINERS[source]


@dataclasses.dataclass
class _Call:
    """One call of a layer: its constructor arguments, the program tensors it holds (by
    attribute), the graph nodes it replaces, its input and its output node."""

    cls: type[nn.Module]
    kwargs: dict[str, Any]
    tensors: dict[str, str | None]
    nodes: list[fx.Node]
    input: Any
    output: fx.Node

    def key(self) -> tuple:
        return self.cls, repr(sorted(self.kwargs.items())), tuple(sorted(self.tensors.items(), key=str))


class _Context:
    def __init__(self, kinds: dict[str, str], tensors: dict[str, torch.Tensor]) -> None:
        self.kinds, self.tensors = kinds, tensors

    def attr(self, arg: Any, fqn: str, kind: str) -> bool:
        """Whether ``arg`` reads the tensor at ``fqn`` (under that name or, tied, another)."""
        return (isinstance(arg, fx.Node) and arg.op == "get_attr" and self.kinds.get(fqn) == kind
                and (arg.target == fqn or self.tensors.get(str(arg.target)) is self.tensors.get(fqn)))

    def tensor(self, arg: fx.Node) -> torch.Tensor:
        return self.tensors[str(arg.target)]


def _bind(node: fx.Node) -> dict[str, Any]:
    """The op's arguments by schema name, defaults filled in."""
    out = {}
    for i, arg in enumerate(node.target._schema.arguments):
        if i < len(node.args) and not arg.kwarg_only:
            out[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        elif arg.has_default_value():
            out[arg.name] = arg.default_value
    return out


def _pair(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(value) * 2 if len(value) == 1 else tuple(value)
    return (value, value)


def _is_inplace(op: Any) -> bool:
    return isinstance(op, torch._ops.OpOverload) and any(
        a.alias_info is not None and a.alias_info.is_write for a in op._schema.arguments[:1])


# Calls whose result may be their input itself: views, and dropout in eval.
_ALIASING = {torch.reshape, torch.flatten, torch.permute, torch.transpose, torch.unsqueeze, torch.squeeze,
             torch.dropout}
_RETURNS_INPUT = {aten.dropout.default}
_ALIASING_LAYERS = (nn.Flatten, nn.Dropout)


def _owns(node: Any) -> bool:
    """Whether nothing but ``node`` shows its tensor (no view of, or into, another value)."""
    if not isinstance(node, fx.Node):
        return False
    if node.op == "call_module":
        return not node.meta.get("aliases_input")
    if node.op != "call_function":
        return True
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        if _is_inplace(target):
            return _may_drop_mutation(node)
        return target not in _RETURNS_INPUT and all(r.alias_info is None for r in target._schema.returns)
    if target is operator.getitem:
        base = node.args[0]
        return isinstance(base, fx.Node) and isinstance(base.target, torch._ops.OpOverload) and all(
            r.alias_info is None for r in base.target._schema.returns)
    return target not in _ALIASING


def _may_drop_mutation(node: fx.Node) -> bool:
    """An in-place op may run out of place when its input has no other reader."""
    if not _is_inplace(node.target) or (node.target is aten.dropout_.default and not _bind(node)["train"]):
        return True  # (dropout in eval changes nothing)
    first = node.args[0] if node.args else None
    return isinstance(first, fx.Node) and len(first.users) == 1 and _owns(first)


def _held(arg: Any, fqn: str) -> str | None:
    """The layer attribute's tensor name, or None where the call passes None."""
    return None if arg is None else fqn


def _no_nodes(args: dict[str, Any], skip: str) -> bool:
    return not any(isinstance(x, fx.Node) for k, v in args.items() if k != skip
                   for x in (v if isinstance(v, (list, tuple)) else [v]))


def _first_item(node: fx.Node) -> tuple[fx.Node, list[fx.Node]] | None:
    """For an op returning a tuple used only through ``[0]``: that item and every getitem."""
    items = list(node.users)
    if not all(u.target is operator.getitem for u in items):
        return None
    first = [u for u in items if u.args[1] == 0]
    if len(first) != 1 or any(u.users for u in items if u.args[1] != 0):
        return None
    return first[0], items


def _ops(*names: str) -> set:
    """The default overloads of the named aten ops and of their in-place forms."""
    out = set()
    for name in names:
        for variant in (name, name + "_"):
            packet = getattr(aten, variant, None)
            if packet is not None and "default" in packet.overloads():
                out.add(packet.default)
    return out


def _simple(cls: type[nn.Module], make: Callable[[dict], dict | None]) -> Callable:
    """A layer that is one op on its input with constant arguments."""
    def match(node: fx.Node, path: str, ctx: _Context) -> _Call | None:
        args = _bind(node)
        first = next(iter(args))
        if not _no_nodes(args, first) or not _may_drop_mutation(node):
            return None
        kwargs = make(args)
        return None if kwargs is None else _Call(cls, kwargs, {}, [node], args[first], node)
    return match


def _conv(node: fx.Node, path: str, ctx: _Context) -> _Call | None:
    a = _bind(node)
    if node.target is aten.convolution.default and (a["transposed"] or any(a["output_padding"])):
        return None
    w, b = a["weight"], a["bias"]
    if not ctx.attr(w, f"{path}.weight", "param") or not (b is None or ctx.attr(b, f"{path}.bias", "param")):
        return None
    weight = ctx.tensor(w)
    if weight.dim() != 4 or not _no_nodes({k: a[k] for k in ("stride", "padding", "dilation", "groups")}, ""):
        return None
    padding = a["padding"] if isinstance(a["padding"], str) else _pair(a["padding"])
    kwargs = {"in_channels": weight.shape[1] * a["groups"], "out_channels": weight.shape[0],
              "kernel_size": tuple(weight.shape[2:]), "stride": _pair(a["stride"]), "padding": padding,
              "dilation": _pair(a["dilation"]), "groups": a["groups"], "bias": b is not None}
    return _Call(nn.Conv2d, kwargs, {"weight": f"{path}.weight", "bias": _held(b, f"{path}.bias")}, [node],
                 a["input"], node)


def _linear(node: fx.Node, path: str, ctx: _Context) -> _Call | None:
    a, nodes = _bind(node), [node]
    if node.target is aten.linear.default:
        x, w, b = a["input"], a["weight"], a["bias"]
    else:  # decomposed: addmm(bias, x, permute(weight)) or mm(x, permute(weight))
        if a.get("beta", 1) != 1 or a.get("alpha", 1) != 1:
            return None
        if node.target is aten.mm.default:
            x, t, b = a["self"], a["mat2"], None
        else:
            x, t, b = a["mat1"], a["mat2"], a["self"]
        transposed = isinstance(t, fx.Node) and (
            t.target is aten.t.default or (t.target is aten.permute.default and list(t.args[1]) == [1, 0]))
        if not transposed or len(t.users) != 1:
            return None
        w, nodes = t.args[0], [t, node]
    if not ctx.attr(w, f"{path}.weight", "param") or not (b is None or ctx.attr(b, f"{path}.bias", "param")):
        return None
    weight = ctx.tensor(w)
    if weight.dim() != 2:
        return None
    kwargs = {"in_features": weight.shape[1], "out_features": weight.shape[0], "bias": b is not None}
    return _Call(nn.Linear, kwargs, {"weight": f"{path}.weight", "bias": _held(b, f"{path}.bias")}, nodes, x, node)


def _batch_norm(cls: type[nn.Module]) -> Callable:
    def match(node: fx.Node, path: str, ctx: _Context) -> _Call | None:
        a, nodes, out = _bind(node), [node], node
        w, b, mean, var = a["weight"], a["bias"], a["running_mean"], a["running_var"]
        track = mean is not None
        if node.target is aten.batch_norm.default:
            if a["training"] is track:  # running stats used in eval, batch stats without them
                return None
        else:
            item = _first_item(node)
            if item is None or not track:
                return None
            out, getitems = item
            nodes = [node, *getitems]
        if (w is None) != (b is None) or (var is None) == track:
            return None
        if w is not None and not (ctx.attr(w, f"{path}.weight", "param") and ctx.attr(b, f"{path}.bias", "param")):
            return None
        if track and not (ctx.attr(mean, f"{path}.running_mean", "buffer")
                          and ctx.attr(var, f"{path}.running_var", "buffer")):
            return None
        shaped = mean if track else w
        if shaped is not None:
            features = ctx.tensor(shaped).shape[0]
        elif isinstance(node.args[0], fx.Node) and "val" in node.args[0].meta:
            features = node.args[0].meta["val"].shape[1]
        else:
            return None
        tensors = {"weight": _held(w, f"{path}.weight"), "bias": _held(b, f"{path}.bias"),
                   "running_mean": _held(mean, f"{path}.running_mean"),
                   "running_var": _held(var, f"{path}.running_var")}
        counted = f"{path}.num_batches_tracked"
        if track:
            tensors["num_batches_tracked"] = counted if ctx.kinds.get(counted) == "buffer" else None
        kwargs = {"num_features": int(features), "eps": float(a["eps"]), "momentum": float(a["momentum"]),
                  "affine": w is not None, "track_running_stats": track}
        return _Call(cls, kwargs, tensors, nodes, a["input"], out)
    return match


def _max_pool(node: fx.Node, path: str, ctx: _Context) -> _Call | None:
    a, nodes, out = _bind(node), [node], node
    if node.target is aten.max_pool2d_with_indices.default:
        item = _first_item(node)
        if item is None:
            return None
        out, getitems = item
        nodes = [node, *getitems]
    if not _no_nodes(a, "self"):
        return None
    kernel = _pair(a["kernel_size"])
    kwargs = {"kernel_size": kernel, "stride": _pair(a["stride"]) if a["stride"] else kernel,
              "padding": _pair(a["padding"]), "dilation": _pair(a["dilation"]), "ceil_mode": bool(a["ceil_mode"])}
    return _Call(nn.MaxPool2d, kwargs, {}, nodes, a["self"], out)


def _adaptive_avg(node: fx.Node, path: str, ctx: _Context) -> _Call | None:
    a = _bind(node)
    if node.target is aten.mean.dim:  # decomposed global average pool
        val = node.args[0].meta.get("val") if isinstance(node.args[0], fx.Node) else None
        dims = {d % 4 for d in a["dim"] or []} if val is not None and val.dim() == 4 else set()
        if dims != {2, 3} or not a["keepdim"] or a.get("dtype") is not None:
            return None
        return _Call(nn.AdaptiveAvgPool2d, {"output_size": (1, 1)}, {}, [node], a["self"], node)
    if not _no_nodes(a, "self"):
        return None
    return _Call(nn.AdaptiveAvgPool2d, {"output_size": tuple(a["output_size"])}, {}, [node], a["self"], node)


def _avg_pool(a: dict) -> dict:
    kernel = _pair(a["kernel_size"])
    return {"kernel_size": kernel, "stride": _pair(a["stride"]) if a["stride"] else kernel,
            "padding": _pair(a["padding"]), "ceil_mode": bool(a["ceil_mode"]),
            "count_include_pad": bool(a["count_include_pad"]), "divisor_override": a["divisor_override"]}


def _unary(cls: type[nn.Module], *names: str) -> tuple:
    return cls, _ops(*names), _simple(cls, lambda a: {})


# Standard layer class -> (the ops its forward becomes, matcher of one call).
_LAYERS = {f"{cls.__module__}.{cls.__qualname__}": (ops, match) for cls, ops, match in (
    (nn.Conv2d, {aten.conv2d.default, aten.conv2d.padding, aten.convolution.default}, _conv),
    (nn.Linear, {aten.linear.default, aten.addmm.default, aten.mm.default}, _linear),
    (nn.BatchNorm2d, {aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default},
     _batch_norm(nn.BatchNorm2d)),
    (nn.BatchNorm1d, {aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default},
     _batch_norm(nn.BatchNorm1d)),
    (nn.MaxPool2d, {aten.max_pool2d.default, aten.max_pool2d_with_indices.default}, _max_pool),
    (nn.AvgPool2d, {aten.avg_pool2d.default}, _simple(nn.AvgPool2d, _avg_pool)),
    (nn.AdaptiveAvgPool2d, {aten.adaptive_avg_pool2d.default, aten.mean.dim}, _adaptive_avg),
    (nn.ReLU6, _ops("hardtanh"),
     _simple(nn.ReLU6, lambda a: {} if (a["min_val"], a["max_val"]) == (0, 6) else None)),
    (nn.Hardtanh, _ops("hardtanh"),
     _simple(nn.Hardtanh, lambda a: {"min_val": float(a["min_val"]), "max_val": float(a["max_val"])})),
    (nn.LeakyReLU, _ops("leaky_relu"),
     _simple(nn.LeakyReLU, lambda a: {"negative_slope": float(a["negative_slope"])})),
    (nn.GELU, _ops("gelu"), _simple(nn.GELU, lambda a: {"approximate": str(a["approximate"])})),
    (nn.ELU, _ops("elu"), _simple(nn.ELU, lambda a: {"alpha": float(a["alpha"])}
                                  if (a["scale"], a["input_scale"]) == (1, 1) else None)),
    (nn.Softmax, {aten.softmax.int, aten._softmax.default}, _simple(
        nn.Softmax, lambda a: None if a.get("dtype") or a.get("half_to_float") else {"dim": a["dim"]})),
    (nn.Dropout, _ops("dropout"), _simple(nn.Dropout, lambda a: None if a["train"] else {"p": float(a["p"])})),
    (nn.Flatten, {aten.flatten.using_ints},
     _simple(nn.Flatten, lambda a: {"start_dim": a["start_dim"], "end_dim": a["end_dim"]})),
    _unary(nn.ReLU, "relu"), _unary(nn.SiLU, "silu"), _unary(nn.Sigmoid, "sigmoid"),
    _unary(nn.Tanh, "tanh"), _unary(nn.Hardswish, "hardswish"), _unary(nn.Hardsigmoid, "hardsigmoid"),
)}
_META_BUILT = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.BatchNorm1d)


def _alpha_one(a: dict) -> bool:
    return a.get("alpha", 1) == 1


# aten op (overload) -> (plain callable, the kwargs it takes, a check on the bound arguments).
_FUNCTIONS: dict[Any, tuple[Callable, frozenset, Callable[[dict], bool]]] = {}
for _op, _fn, _kw, _check in (
    (aten.add.Tensor, operator.add, (), _alpha_one), (aten.sub.Tensor, operator.sub, (), _alpha_one),
    (aten.mul.Tensor, operator.mul, (), None), (aten.div.Tensor, operator.truediv, (), None),
    (aten.cat.default, torch.cat, (), None), (aten.flatten.using_ints, torch.flatten, (), None),
    (aten.view.default, torch.reshape, (), None), (aten.reshape.default, torch.reshape, (), None),
    (aten.mean.dim, torch.mean, ("dtype",), None), (aten.relu.default, torch.relu, (), None),
    (aten.sigmoid.default, torch.sigmoid, (), None), (aten.tanh.default, torch.tanh, (), None),
    (aten.hardtanh.default, F.hardtanh, (), None), (aten.leaky_relu.default, F.leaky_relu, (), None),
    (aten.gelu.default, F.gelu, ("approximate",), None), (aten.silu.default, F.silu, (), None),
    (aten.hardswish.default, F.hardswish, (), None), (aten.hardsigmoid.default, F.hardsigmoid, (), None),
    (aten.max_pool2d.default, F.max_pool2d, (), None), (aten.avg_pool2d.default, F.avg_pool2d, (), None),
    (aten.adaptive_avg_pool2d.default, F.adaptive_avg_pool2d, (), None),
    (aten.conv2d.default, F.conv2d, (), None), (aten.conv2d.padding, F.conv2d, (), None),
    (aten.linear.default, F.linear, (), None), (aten.batch_norm.default, torch.batch_norm, (), None),
    (aten.dropout.default, torch.dropout, (), None), (aten.softmax.int, torch.softmax, (), None),
    (aten.permute.default, torch.permute, (), None), (aten.transpose.int, torch.transpose, (), None),
    (aten.unsqueeze.default, torch.unsqueeze, (), None), (aten.squeeze.dim, torch.squeeze, (), None),
    (aten.matmul.default, torch.matmul, (), None),
):
    _FUNCTIONS[_op] = (_fn, frozenset(_kw), _check or (lambda a: True))


def _functional_form(op: Any) -> Any:
    """``aten.relu_.default`` -> ``aten.relu.default``; other ops as they are."""
    if not _is_inplace(op):
        return op
    packet = getattr(aten, op._schema.name.split("::")[1][:-1], None)
    return getattr(packet, op._overloadname, None) if packet is not None else None


def _plain_functions(graph: fx.Graph) -> None:
    for node in list(graph.nodes):
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            continue
        entry = _FUNCTIONS.get(_functional_form(node.target))
        if entry is None or not _may_drop_mutation(node):
            continue
        fn, allowed, check = entry
        if not set(node.kwargs) <= allowed | {"alpha"} or not check(_bind(node)):
            continue
        node.target = fn
        node.kwargs = {k: v for k, v in node.kwargs.items() if k != "alpha"}
        if fn in (operator.add, operator.sub, operator.mul, operator.truediv):
            node.args = node.args[:2]


def _layers(graph: fx.Graph, ctx: _Context) -> dict[str, nn.Module]:
    """Replace each standard layer's calls by ``call_module``; the layers by path."""
    groups: dict[tuple[str, str], list[fx.Node]] = {}
    for node in graph.nodes:
        stack = node.meta.get("nn_module_stack") if node.op == "call_function" else None
        if stack:
            path, kind = list(stack.values())[-1]
            kind = re.sub(r"^<class '(.*)'>$", r"\1", str(kind))
            groups.setdefault((path, kind), []).append(node)
    modules: dict[str, nn.Module] = {}
    for (path, kind), nodes in groups.items():
        spec = _LAYERS.get(kind)
        if spec is None or not valid_path(path) or path in modules:
            continue
        anchors, match = spec
        calls: list[_Call] = []
        consumed: set[fx.Node] = set()
        for node in nodes:
            if node.target in anchors and node not in consumed:
                try:
                    call = match(node, path, ctx)
                except (TypeError, ValueError, KeyError, AttributeError, IndexError):
                    call = None  # an argument of another kind than the layer's: not this layer
                if call is None or (calls and call.key() != calls[0].key()):
                    calls = []
                    break
                calls.append(call)
                consumed.update(call.nodes)
        if not calls or not set(nodes) <= consumed:
            continue
        module = _build(calls[0], ctx)
        if module is None:
            continue
        modules[path] = module
        replaced: dict[Any, fx.Node] = {}  # a layer called on its own output (x = conv(conv(x)))
        for call in calls:
            with graph.inserting_before(call.output):
                new = graph.call_module(path, (replaced.get(call.input, call.input),))
            replaced[call.output] = new
            new.meta = {k: call.output.meta[k] for k in (*_KEEP_META, "val") if k in call.output.meta}
            new.meta["aliases_input"] = issubclass(call.cls, _ALIASING_LAYERS)
            call.output.replace_all_uses_with(new)
            for old in reversed(call.nodes):
                graph.erase_node(old)
    return modules


def _build(call: _Call, ctx: _Context) -> nn.Module | None:
    extra = {"device": "meta"} if call.cls in _META_BUILT else {}
    try:
        module = call.cls(**call.kwargs, **extra)
    except (TypeError, ValueError, RuntimeError):
        return None  # arguments the layer refuses (padding="same" with a stride...): not this layer
    for attr, fqn in call.tensors.items():
        if fqn is not None:
            value = ctx.tensors[fqn]
            if attr in module._parameters and not isinstance(value, nn.Parameter):
                return None
            setattr(module, attr, value)
        elif attr == "num_batches_tracked":
            module.num_batches_tracked = torch.tensor(0, dtype=torch.long)
    if any(t.is_meta for t in (*module.parameters(), *module.buffers())):
        return None
    return module.eval()


def rebuild(program: Any) -> tuple[fx.GraphModule, tuple[int, ...] | None]:
    """The program as a flat GraphModule of standard layers, and its first output's shape.

    Args:
        program: a ``torch.export.ExportedProgram`` with one user input and user outputs only.
    """
    sig = program.graph_signature
    kinds: dict[str, str] = {}
    tensors: dict[str, torch.Tensor] = {}
    persistent: dict[str, bool] = {}
    by_name = {}
    for spec in sig.input_specs:
        by_name[spec.arg.name] = spec
        if spec.kind == InputKind.PARAMETER:
            value = program.state_dict[spec.target]
            if not isinstance(value, nn.Parameter):
                value = nn.Parameter(value.detach(), requires_grad=value.dtype.is_floating_point)
            kinds[spec.target], tensors[spec.target] = "param", value
        elif spec.kind in (InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            keep = spec.kind == InputKind.BUFFER and bool(spec.persistent)
            source = program.state_dict if keep else program.constants
            kinds[spec.target], tensors[spec.target] = "buffer", source[spec.target]
            persistent[spec.target] = keep
    for fqn, value in program.state_dict.items():  # unused ones too: counts must match
        if fqn not in tensors:
            kinds[fqn] = "param" if isinstance(value, nn.Parameter) else "buffer"
            tensors[fqn], persistent[fqn] = value, True
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    output_shape = None
    for node in program.graph.nodes:
        if node.op == "placeholder":
            spec = by_name[node.name]
            new = (graph.placeholder(node.name) if spec.kind == InputKind.USER_INPUT
                   else graph.get_attr(spec.target))
        elif node.op == "output":
            outs = [a for a, spec in zip(node.args[0], sig.output_specs) if spec.kind == OutputKind.USER_OUTPUT]
            val = outs[0].meta.get("val") if outs and isinstance(outs[0], fx.Node) else None
            if isinstance(val, torch.Tensor) and all(isinstance(s, int) for s in val.shape):
                output_shape = tuple(val.shape)
            mapped = [env[a] if isinstance(a, fx.Node) else a for a in outs]
            graph.output(mapped[0] if len(mapped) == 1 else tuple(mapped))
            continue
        else:
            new = graph.node_copy(node, lambda n: env[n])
        new.meta = {k: node.meta[k] for k in (*_KEEP_META, "val") if k in node.meta}
        env[node] = new
    ctx = _Context(kinds, tensors)
    modules = _layers(graph, ctx)
    _plain_functions(graph)
    for node in list(graph.nodes):
        if node.op == "get_attr" and not node.users:
            graph.erase_node(node)
        node.meta.pop("val", None)
        node.meta.pop("aliases_input", None)
    graph.lint()
    sources: dict[str, str] = {}  # module path -> its class in the original model
    for node in program.graph.nodes:
        for path, kind in (node.meta.get("nn_module_stack") or {}).values():
            sources.setdefault(path, kind)
    root_name = _container_class(sources.get("", "GraphModule")).__name__
    module = fx.GraphModule(nn.Module(), fx.Graph(), class_name=root_name)
    for path in sorted(modules, key=lambda p: p.count(".")):
        _put(module, path, modules[path], sources)
    for fqn, value in tensors.items():
        _put(module, fqn, value, sources, persistent.get(fqn, True))
    module.graph = graph
    return module.eval(), output_shape


def _put(root: nn.Module, path: str, value: Any, sources: dict[str, str], persistent: bool = True) -> None:
    """Set ``value`` at a dotted path, making the containers above it as needed."""
    *parents, leaf = path.split(".")
    owner, prefix = root, ""
    for part in parents:
        prefix = f"{prefix}.{part}" if prefix else part
        child = owner._modules.get(part)
        if child is None:
            if hasattr(owner, part):
                raise ValueError(f"{prefix} is both a tensor and a module")
            child = _container_class(sources.get(prefix, "Module"))()
            owner.add_module(part, child)
        owner = child
    if isinstance(value, nn.Module):
        owner.add_module(leaf, value)
    elif getattr(owner, leaf, None) is value:
        return  # held already by the layer that uses it
    elif hasattr(owner, leaf):
        raise ValueError(f"{path} is given twice")
    elif isinstance(value, nn.Parameter):
        owner.register_parameter(leaf, value)
    else:
        owner.register_buffer(leaf, value, persistent=persistent)
