"""Trace a model with ``torch.fx`` into a :class:`ModelGraph`.

The trace is plain ``torch.fx`` tracing (``Tracer().trace``, what ``symbolic_trace`` does
before it compiles the graph into a GraphModule, which nothing here needs) on the
eval-mode model with the default leaf modules, so node ids equal the names the
feature-map stepper sees. Shapes come from
really running the graph node by node (on the meta device, or on fake tensors when the
model holds real weights, so even VGG costs no arithmetic); FLOPs from
``torch.utils.flop_counter``. Auxiliary heads run only in training mode, so they are
found by a training-mode pass with forward hooks, traced on their own and attached where
their input comes from.
"""

from __future__ import annotations

import collections
import contextlib
import linecache
import re
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import networkx as nx
import torch
import torch.fx
from torch import Tensor, nn
from torch.fx.proxy import Scope
from torch.utils.flop_counter import FlopCounterMode

from explorer.errors import UserError
from explorer.graph import facts
from explorer.graph.model_graph import BLOCK, CONTAINER, LAYER, ModelGraph, ModuleRecord


class GraphTraceError(UserError):
    """fx could not trace a model; the message names the operation that stopped it."""


# --------------------------------------------------------------------------- public API


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
            fx_graph = _fx_trace(model)
        except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError...
            message = describe_trace_failure(name, exc)
            if not fallback:
                raise GraphTraceError(message) from exc
            return build_hook_graph(model, input_shape, name=name, warning=message)
        return _graph_from_trace(model, fx_graph, input_shape, name)
    finally:
        model.train(was_training)


def describe_trace_failure(name: str, exc: BaseException) -> str:
    """One line naming the operation fx stumbled on: the user's source line, not torch's."""
    frame = None
    for entry in traceback.extract_tb(exc.__traceback__):
        if "/torch/" not in entry.filename.replace("\\", "/"):
            frame = entry
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = re.sub(r"\s+", " ", reason)
    if frame is not None:
        line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
        where = f"`{line}` in {frame.name}() line {frame.lineno}"
    else:
        where = "an operation in forward()"
    return f"fx cannot trace {name}: {where}: {reason}"


class _ModuleStack(collections.OrderedDict):
    """fx's module stack, copied into every node's ``nn_module_stack``, cheaply.

    ``copy.copy`` of a plain OrderedDict goes through ``__reduce_ex__`` (7 us against
    0.3 us); the copy is still a plain OrderedDict, as fx makes it.
    """

    def __copy__(self) -> collections.OrderedDict:
        return collections.OrderedDict(self)


class _Scope(Scope):
    """fx's current-module scope, which it copies on every module call; cheaply too."""

    def __copy__(self) -> Scope:
        return Scope(self.module_path, self.module_type)


_PLAIN_ARGS = (int, float, bool, str, type(None))


class _Tracer(torch.fx.Tracer):
    """``torch.fx.Tracer`` with faster bookkeeping and the very same graph.

    Per node, fx copies the module stack and scope with ``copy.copy`` and lowers every
    argument through a chain of isinstance checks; the shortcuts below (the common
    argument types first) cut DenseNet-201's trace from 43 to 32 ms.
    """

    def __init__(self) -> None:
        super().__init__()
        self.module_stack = _ModuleStack()
        self.scope = _Scope("", None)

    def create_arg(self, a: Any) -> Any:
        kind = type(a)
        if kind is torch.fx.Proxy:
            return a.node
        if kind in _PLAIN_ARGS:
            return a
        if kind is list or kind is tuple:
            return kind([self.create_arg(x) for x in a])
        return super().create_arg(a)


def _fx_trace(module: nn.Module) -> torch.fx.Graph:
    """The graph ``torch.fx.symbolic_trace`` would build, without its GraphModule.

    Making the GraphModule generates and compiles Python source for the whole forward
    (a third of DenseNet-201's trace time); the interpreter below runs the graph
    against the original module instead. Node names and metadata are the same.
    """
    return _Tracer().trace(module)


# ------------------------------------------------------------------- shape propagation


def _elementwise_functions() -> frozenset:
    import torch.nn.functional as F  # noqa: N812

    # softmax is left out: its dtype= argument can change the result's dtype
    names = ("relu", "relu_", "relu6", "hardtanh", "hardtanh_", "sigmoid", "tanh", "gelu", "silu",
             "hardswish", "hardsigmoid", "leaky_relu", "elu", "mish", "dropout", "dropout1d",
             "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
    found = set()
    for owner in (torch, F, torch.nn.functional):
        for name in names:
            fn = getattr(owner, name, None)
            if callable(fn):
                found.add(fn)
    return frozenset(found)


# Functions whose output has their first argument's shape and which torch's flop counter
# counts as zero FLOPs (it counts matrix products and convolutions only).
_ELEMENTWISE_FUNCTIONS = _elementwise_functions()


class _ShapeFlopInterpreter(torch.fx.Interpreter):
    """Runs the graph node by node, keeping each node's output shape and FLOPs."""

    def __init__(self, module: nn.Module, fx_graph: torch.fx.Graph, counter: FlopCounterMode) -> None:
        super().__init__(module, garbage_collect_values=True, graph=fx_graph)
        self.counter = counter
        self.results: dict[str, tuple[list[int] | None, str | None, int]] = {}
        # (layer class, its settings, input shapes) -> (output, FLOPs the counter gave)
        self._repeats: dict[tuple, tuple[Any, int]] = {}
        self._replayed_flops = 0

    def run_node(self, n: torch.fx.Node) -> Any:
        before = self.counter.get_total_flops()
        self._replayed_flops = 0
        # Interpreter.run_node without its per-node debug logging and traceback
        # bookkeeping (a context manager per node); failures are reported by node below.
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        out = getattr(self, n.op)(n.target, args, kwargs)
        flops = self.counter.get_total_flops() - before + self._replayed_flops
        if isinstance(out, Tensor):
            self.results[n.name] = (list(out.shape), str(out.dtype).replace("torch.", ""), flops)
        else:
            self.results[n.name] = (None, None, flops)
        return out

    def call_function(self, target: Any, args: tuple, kwargs: dict) -> Any:
        if target in _ELEMENTWISE_FUNCTIONS and args and isinstance(args[0], Tensor):
            # F.relu and friends keep the shape and count no FLOPs; on the meta device
            # under the flop counter each call still cost ~0.1 ms of Python dispatch
            # (Inception v3 calls F.relu 94 times).
            return args[0]
        # torch.cat on meta tensors costs ~0.5 ms a call through the dispatcher, and a
        # DenseNet-201 makes 200 of them with up to 50 inputs: size the result directly.
        if target is torch.cat and args and isinstance(args[0], (list, tuple)) and set(kwargs) <= {"dim"}:
            tensors = args[0]
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
            if tensors and all(isinstance(t, Tensor) for t in tensors) and isinstance(dim, int):
                first = tensors[0]
                dim = dim % first.dim()
                before, after = first.shape[:dim], first.shape[dim + 1:]
                for t in tensors[1:]:
                    if t.shape[:dim] != before or t.shape[dim + 1:] != after:
                        raise RuntimeError(
                            f"torch.cat: sizes {list(first.shape)} and {list(t.shape)} do not match "
                            f"outside dimension {dim}"
                        )
                shape = list(first.shape)
                shape[dim] = sum(t.shape[dim] for t in tensors)
                return first.new_empty(shape)
        return super().call_function(target, args, kwargs)

    def call_module(self, target: str, args: tuple, kwargs: dict) -> Any:
        module = self.submodules.get(target)  # one lookup, not a getattr per path part
        if module is None:
            module = self.fetch_attr(target)
        if isinstance(module, facts.SHAPE_PRESERVING) and len(args) == 1 and not kwargs:
            x = args[0]
            if isinstance(x, Tensor):
                expected = getattr(module, "num_features", None)
                if expected is not None and x.dim() > 1 and x.shape[1] != expected:
                    raise RuntimeError(
                        f"{target} expects {expected} channels but receives {x.shape[1]}"
                    )
                return x
        if module._forward_hooks or module._forward_pre_hooks:
            return super().call_module(target, args, kwargs)
        key = _repeat_key(module, args, kwargs)
        if key is not None and key in self._repeats:
            out, self._replayed_flops = self._repeats[key]
            return out
        before = self.counter.get_total_flops()
        # Calling forward() directly skips the global module hooks, among them the flop
        # counter's own module tracker: its per-module breakdown is not used (each node's
        # FLOPs are the change of the global total), and keeping it up to date cost about
        # a tenth of a millisecond per layer.
        out = module.forward(*args, **kwargs)
        if key is not None and isinstance(out, Tensor):
            self._repeats[key] = (out, self.counter.get_total_flops() - before)
        return out


def _repeat_key(module: nn.Module, args: tuple, kwargs: dict) -> tuple | None:
    """What a torch.nn layer's output shape and FLOPs depend on, or None.

    ResNet-152 runs 155 convolutions of about 20 distinct kinds and DenseNet's 3x3
    convolutions repeat within each block: a layer that repeats an earlier one (same
    class, same settings as ``extra_repr`` states them, same input shapes and dtypes)
    reuses that run's (meta) output and the FLOPs the counter measured for it, instead
    of another ~0.2 ms trip through the meta kernels and the counter's dispatch.
    """
    if kwargs or module._modules or not type(module).__module__.startswith("torch.nn."):
        return None
    shapes = []
    for a in args:
        if not isinstance(a, Tensor):
            return None
        shapes.append((tuple(a.shape), a.dtype))
    dtypes = tuple(p.dtype for p in module._parameters.values() if p is not None)
    return type(module), module.extra_repr(), tuple(shapes), dtypes


def _on_meta(model: nn.Module) -> bool:
    """True when every parameter and buffer lives on the meta device (and there is one)."""
    found = False
    for module in model.modules():  # the raw dicts: parameters() dedups through generators
        for tensors in (module._parameters, module._buffers):
            for t in tensors.values():
                if t is None:
                    continue
                if not t.is_meta:
                    return False
                found = True
    return found


def _leaf_params(module: nn.Module) -> int:
    """Trainable parameters of a layer."""
    if module._modules:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)
    unique = {id(p): p for p in module._parameters.values() if p is not None and p.requires_grad}
    return sum(p.numel() for p in unique.values())


@contextlib.contextmanager
def _tensor_mode(model: nn.Module) -> Iterator[Callable[[tuple[int, ...]], Tensor]]:
    """Yield a factory of input tensors that cost no arithmetic.

    A model built on the meta device runs as is; one with real weights runs under fake
    tensors, which read its weights' shapes without touching their values.
    """
    if _on_meta(model):
        with torch.no_grad():
            yield lambda shape: torch.empty(shape, device="meta")
        return
    from torch._subclasses.fake_tensor import FakeTensorMode

    fake = FakeTensorMode(allow_non_fake_inputs=True)
    with torch.no_grad(), fake:
        yield lambda shape: torch.empty(shape)


def _propagate(fx_graph: torch.fx.Graph, model: nn.Module, input_shapes: list[tuple[int, ...]],
               ) -> dict[str, tuple[list[int] | None, str | None, int]]:
    with _tensor_mode(model) as make, FlopCounterMode(display=False) as counter:
        interpreter = _ShapeFlopInterpreter(model, fx_graph, counter)
        try:
            interpreter.run(*[make(s) for s in input_shapes])
        except Exception as exc:
            failing = next(reversed(interpreter.results), None) if interpreter.results else None
            raise GraphTraceError(
                f"cannot run {type(model).__name__} on an input of shape "
                f"{tuple(input_shapes[0])}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
                + (f" (after node {failing})" if failing else "")
            ) from exc
    return interpreter.results


# ---------------------------------------------------------------------- graph building


def _owner(n: torch.fx.Node) -> str:
    if n.op == "call_module":
        return str(n.target)
    stack = n.meta.get("nn_module_stack")
    if stack:
        value = list(stack.values())[-1]
        return value[0] if isinstance(value, tuple) else str(value)
    return ""


def _node_attrs(
    n: torch.fx.Node,
    model_modules: dict[str, nn.Module],
    results: dict,
    seen_modules: set[str],
    prefix: str = "",
) -> dict[str, Any]:
    shape, dtype, flops = results.get(n.name, (None, None, 0))
    tensor_inputs = [i for i in n.all_input_nodes if results.get(i.name, (None,))[0] is not None]
    owner = _owner(n)
    attrs: dict[str, Any] = {
        "op": n.op,
        "target": str(n.target) if n.op != "call_function" else facts.function_name(n.target),
        "module_path": _join(prefix, owner),
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
        module = model_modules[_join(prefix, str(n.target))]
        attrs.update(facts.module_facts(module))
        key = _join(prefix, str(n.target))
        if key not in seen_modules:  # a module called twice owns its weights once
            seen_modules.add(key)
            attrs["params"] = _leaf_params(module)
    elif n.op == "get_attr":
        attrs.update(layer_type="parameter", category="other", hparams={})
        value = model_modules.get("")
        try:
            tensor = _fetch(value, _join(prefix, str(n.target))) if value is not None else None
        except AttributeError:
            tensor = None
        if isinstance(tensor, nn.Parameter) and _join(prefix, str(n.target)) not in seen_modules:
            seen_modules.add(_join(prefix, str(n.target)))
            attrs["params"] = tensor.numel()
    else:
        attrs.update(facts.function_facts(n.target, n.args, n.kwargs, len(tensor_inputs)))
    attrs["label"] = _label(n.name, attrs)
    attrs["summary"] = facts.summary(attrs)
    return attrs


def _fetch(root: nn.Module, path: str) -> Any:
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return f"{prefix}.{path}" if path else prefix


_GENERIC_NAMES = {"conv", "bn", "relu", "norm", "act", "pool", "fc", "linear", "dropout"}


def _label(node_id: str, attrs: dict[str, Any]) -> str:
    if attrs["op"] == "call_module":
        parts = attrs["module_path"].split(".")
        # "features.3" and "conv1.conv" say more than "3" and "conv"
        generic = parts[-1].isdigit() or parts[-1] in _GENERIC_NAMES
        return ".".join(parts[-2:]) if generic else parts[-1] or node_id
    return node_id


def _graph_from_trace(model: nn.Module, fx_graph: torch.fx.Graph, input_shape: tuple[int, ...],
                      name: str) -> ModelGraph:
    placeholders = [n for n in fx_graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise GraphTraceError(
            f"{name}: forward() takes {len(placeholders)} inputs; only single-input models can be drawn"
        )
    results = _propagate(fx_graph, model, [input_shape])
    modules = dict(model.named_modules())
    graph = nx.DiGraph()
    order: list[str] = []
    seen: set[str] = set()
    for n in fx_graph.nodes:
        attrs = _node_attrs(n, modules, results, seen)
        graph.add_node(n.name, id=n.name, **attrs)
        order.append(n.name)
        for i in n.all_input_nodes:
            graph.add_edge(i.name, n.name, kind="plain", shape=results.get(i.name, (None,))[0])
    _attach_aux_heads(model, fx_graph, graph, order, modules, seen)
    return finish_graph(model, graph, order, name, input_shape, traced=True)


def finish_graph(model: nn.Module, graph: nx.DiGraph, order: list[str], name: str,
                 input_shape: tuple[int, ...], *, traced: bool, warning: str | None = None,
                 ) -> ModelGraph:
    """Add receptive fields, the module hierarchy and edge kinds to a node graph."""
    _receptive_fields(graph, order)
    records = build_hierarchy(graph, order, model)
    classify_edges(graph, order, records)
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelGraph(name=name, input_shape=input_shape, graph=graph, modules=records,
                      order=order, traced=traced, warning=warning, total_params=total)


# ------------------------------------------------------------------------- aux heads


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
    """Map each candidate module to the module whose output feeds it in training mode."""
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
            if _on_meta(model):
                model(x)
            else:  # real weights: run the same layers on meta copies of them
                meta_state = {k: torch.empty_like(v, device="meta")
                              for k, v in list(model.named_parameters()) + list(model.named_buffers())}
                torch.func.functional_call(model, meta_state, (x,))
    except _AllHeadsFound:
        pass
    except Exception:
        return {}  # the structure without aux heads is still right; attach none
    finally:
        model.train(was_training)
        for m in patched:
            del m.forward
        for h in handles:
            h.remove()
    return {c: produced[consumed[c]] for c in candidates if consumed.get(c) in produced}


def _attach_aux_heads(model: nn.Module, fx_graph: torch.fx.Graph, graph: nx.DiGraph,
                      order: list[str], modules: dict[str, nn.Module], seen: set[str]) -> None:
    candidates = _unused_modules(model, fx_graph)
    if not candidates:
        return
    input_shape = tuple(graph.nodes[order[0]]["shape"])
    calls: dict[str, int] = {}
    for n in fx_graph.nodes:
        if n.op == "call_module":
            calls[str(n.target)] = calls.get(str(n.target), 0) + 1
    known = {str(n.target): graph.nodes[n.name]["shape"] for n in fx_graph.nodes
             if n.op == "call_module" and calls[str(n.target)] == 1 and graph.nodes[n.name]["shape"]}
    sources = _aux_sources(model, candidates, input_shape, known)
    for path, source_module in sources.items():
        source = None
        for node_id in reversed(order):
            mp = graph.nodes[node_id]["module_path"]
            if not graph.nodes[node_id]["aux"] and (mp == source_module or mp.startswith(source_module + ".")):
                source = node_id
                break
        if source is None or graph.nodes[source]["shape"] is None:
            continue
        head = modules[path]
        was_training = head.training
        head.eval()
        try:
            sub = _fx_trace(head)
            results = _propagate(sub, head, [tuple(graph.nodes[source]["shape"])])
        except Exception:
            continue
        finally:
            head.train(was_training)
        sub_modules = {_join(path, k): v for k, v in head.named_modules()}
        sub_modules[""] = model
        prefix_id = path.replace(".", "_")
        names: dict[str, str] = {}
        insert_at = order.index(source) + 1
        new_ids = []
        for n in sub.nodes:
            if n.op == "placeholder":
                names[n.name] = source
                continue
            node_id = f"{prefix_id}_{n.name}"
            while node_id in graph:
                node_id += "_"
            names[n.name] = node_id
            attrs = _node_attrs(n, sub_modules, results, seen, prefix=path)
            if n.op == "output":
                attrs["label"] = f"{path} output"
            graph.add_node(node_id, id=node_id, **attrs)
            new_ids.append(node_id)
            for i in n.all_input_nodes:
                src = names[i.name]
                shape = graph.nodes[src]["shape"]
                graph.add_edge(src, node_id, kind="aux", shape=shape)
        order[insert_at:insert_at] = new_ids


# ------------------------------------------------------------------ receptive fields


def _receptive_fields(graph: nx.DiGraph, order: list[str]) -> None:
    """Receptive field and effective stride ([h, w] in input pixels) at every node.

    rf_out = rf_in + (k - 1) * dilation * jump_in and jump_out = jump_in * stride for
    windowed layers; merges take the largest field; flattening or global pooling covers
    the whole map. Windows of layers without stated kernels are inferred from shapes.
    """
    nodes = dict(graph.nodes.items())  # plain dict lookups: this runs for every node
    pred = graph.pred
    for node_id in order:
        a = nodes[node_id]
        shape = a.get("shape")
        if a["category"] == "input":
            a["receptive_field"], a["effective_stride"] = ([1, 1], [1, 1]) if shape else (None, None)
            continue
        preds = [nodes[p] for p in pred[node_id] if nodes[p].get("receptive_field") is not None]
        if not preds or shape is None:
            a["receptive_field"] = a["effective_stride"] = None
            continue
        if len(preds) == 1:
            rf, jump = list(preds[0]["receptive_field"]), list(preds[0]["effective_stride"])
        else:
            rf = [max(p["receptive_field"][i] for p in preds) for i in (0, 1)]
            jump = [max(p["effective_stride"][i] for p in preds) for i in (0, 1)]
        in_shape = preds[0].get("shape")
        hp = a.get("hparams") or {}
        spatial_in = in_shape is not None and len(in_shape) == 4
        if spatial_in and hp.get("kernel_size") and a["category"] in ("conv", "depthwise", "pool"):
            k, s = hp["kernel_size"], hp.get("stride") or hp["kernel_size"]
            d = hp.get("dilation") or [1, 1]
            for i in (0, 1):
                rf[i] += (k[i] - 1) * d[i] * jump[i]
                jump[i] *= s[i]
        elif spatial_in and len(shape) < 4:
            # flatten, mean over H and W, or a view: every output sees the whole map
            for i in (0, 1):
                size = in_shape[2 + i]
                rf[i] += (size - 1) * jump[i]
                jump[i] *= size
        elif spatial_in and len(shape) == 4:
            for i in (0, 1):
                size_in, size_out = in_shape[2 + i], shape[2 + i]
                if 0 < size_out < size_in:
                    s = size_in // size_out
                    k = size_in - (size_out - 1) * s
                    rf[i] += (k - 1) * jump[i]
                    jump[i] *= s
        a["receptive_field"], a["effective_stride"] = rf, jump


# -------------------------------------------------------------------------- hierarchy

_BLOCK_NAMES = (
    (re.compile(r"aux"), "aux_head"),
    (re.compile(r"inception|mixed"), "inception"),
    (re.compile(r"invertedresidual|inverted"), "inverted_residual"),
    (re.compile(r"bottleneck"), "bottleneck"),
    (re.compile(r"basicblock"), "basic_block"),
    (re.compile(r"denselayer"), "dense_layer"),
    (re.compile(r"denseblock|dense"), "dense_block"),
    (re.compile(r"transition"), "transition"),
    (re.compile(r"separable|depthwise|dwsep"), "separable"),
    (re.compile(r"^nin|ninblock|mlpconv"), "nin_block"),
    (re.compile(r"vgg"), "vgg_block"),
    (re.compile(r"fire"), "fire"),
    (re.compile(r"residual|resblock"), "residual"),
    (re.compile(r"block|unit"), "block"),
)
_NOT_BLOCK_NAMES = re.compile(r"^(features|classifier|head|stem|body|layers|net|model|backbone)$")


def _block_type_from_name(class_name: str, short_name: str) -> str:
    lowered = class_name.lower().lstrip("_")
    for pattern, block_type in _BLOCK_NAMES:
        if pattern.search(lowered):
            return block_type
    # A module *named* like a block (an nn.Sequential called "block3") is a generic block;
    # names such as "depthwise" label parts of a block, not blocks.
    short = short_name.lower()
    if not _NOT_BLOCK_NAMES.match(short) and re.search(r"block|unit", short):
        return "block"
    return ""


def build_hierarchy(graph: nx.DiGraph, order: list[str], model: nn.Module | None,
                    ) -> dict[str, ModuleRecord]:
    """Module records (model > stage > block > layer) from the nodes' module paths.

    A composite module is a *block* when its class or name says so (Bottleneck,
    Inception, _DenseLayer, InvertedResidual...) or when the data flow between its
    children is not a simple chain (a fork or a merge at its own level); otherwise it is
    a *container* (a stage, or a wrapper such as conv-BN-ReLU) and stays open.
    """
    index = {n: i for i, n in enumerate(order)}
    nodes_attrs = dict(graph.nodes.items())
    # Data-flow predecessors (nodes with a tensor value: shape arithmetic such as
    # x.size(0) is no data flow), looked up once instead of per enclosing module.
    flow_preds = {n: [p for p in graph.pred[n] if nodes_attrs[p].get("shape") is not None]
                  for n in order}
    members: dict[str, list[str]] = {"": []}
    for node_id in order:
        path = nodes_attrs[node_id]["module_path"]
        members[""].append(node_id)
        parts = path.split(".") if path else []
        for i in range(1, len(parts) + 1):
            members.setdefault(".".join(parts[:i]), []).append(node_id)
    children: dict[str, list[str]] = {p: [] for p in members}
    for path in members:
        if path:
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            children.setdefault(parent, []).append(path)
    for path, kids in children.items():
        kids.sort(key=lambda c: index[members[c][0]])
    named = dict(model.named_modules()) if model is not None else {}
    records: dict[str, ModuleRecord] = {}
    for path, nodes in members.items():
        module = named.get(path)
        class_name = type(module).__name__ if module is not None else "Module"
        params = sum(int(nodes_attrs[n].get("params") or 0) for n in nodes)
        kids = children.get(path, [])
        if not path:
            kind, block_type = CONTAINER, ""
        elif not kids:
            kind, block_type = LAYER, ""
        else:
            block_type = _block_type_from_name(class_name, path.rsplit(".", 1)[-1])
            # a module named like a block is one whatever its data flow looks like
            if not block_type and _is_structural(nodes_attrs, flow_preds, path, nodes, kids):
                block_type = _infer_block_type(nodes_attrs, nodes)
            kind = BLOCK if block_type else CONTAINER
        records[path] = ModuleRecord(path=path, type=class_name, kind=kind, block_type=block_type,
                                     children=kids, nodes=list(nodes), params=params)
        if kind == BLOCK:
            records[path].signature = _signature(nodes_attrs, graph, class_name, nodes, params)
    return records


def _unit_of_factory(path: str, kids: list[str]) -> Callable[[str, str], str]:
    """Which child of ``path`` holds a node: the child path is its module path cut one
    level below ``path`` (a dictionary lookup, not a scan of the children)."""
    kid_set = set(kids)
    depth = path.count(".") + 2 if path else 1

    def unit(node_id: str, module_path: str) -> str:
        kid = ".".join(module_path.split(".", depth)[:depth]) if module_path else ""
        return kid if kid in kid_set else node_id
    return unit


def _is_structural(nodes_attrs: dict[str, dict], flow_preds: dict[str, list[str]], path: str,
                   nodes: list[str], kids: list[str]) -> bool:
    unit = _unit_of_factory(path, kids)
    unit_of = {n: unit(n, nodes_attrs[n]["module_path"]) for n in nodes}
    in_sources: dict[str, set[str]] = {}
    out_targets: dict[str, set[str]] = {}
    entry_units: set[str] = set()
    for n in nodes:
        if nodes_attrs[n].get("shape") is None:
            continue  # shape arithmetic (x.size(0)) is no data flow
        u = unit_of[n]
        for p in flow_preds[n]:
            if p in unit_of:
                if unit_of[p] != u:
                    in_sources.setdefault(u, set()).add(unit_of[p])
                    out_targets.setdefault(unit_of[p], set()).add(u)
            else:
                in_sources.setdefault(u, set()).add("external:" + p)
                entry_units.add(u)
    if len(entry_units) > 1:
        return True
    return any(len(s) > 1 for s in in_sources.values()) or any(len(t) > 1 for t in out_targets.values())


def _infer_block_type(nodes_attrs: dict[str, dict], nodes: list[str]) -> str:
    categories = {nodes_attrs[n]["category"] for n in nodes}
    if "add" in categories:
        return "residual"
    if "concat" in categories:
        return "branch"
    return "block"


def _signature(nodes_attrs: dict[str, dict], graph: nx.DiGraph, class_name: str, nodes: list[str],
               params: int) -> str:
    node_set = set(nodes)
    in_shapes = sorted({str(nodes_attrs[p]["shape"]) for n in nodes for p in graph.pred[n]
                        if p not in node_set})
    out_shape = nodes_attrs[nodes[-1]]["shape"]
    return f"{class_name}|{','.join(in_shapes)}|{out_shape}|{params}|{len(nodes)}"


# ------------------------------------------------------------------------ edge kinds


def classify_edges(graph: nx.DiGraph, order: list[str], records: dict[str, ModuleRecord]) -> None:
    """Give every edge a kind: plain, branch, residual, dense or aux.

    * aux: into an auxiliary head.
    * residual: the shortcut into an add (the input with the shorter path from the
      input), back to where it forks, projection layers included.
    * dense: into a concatenation where one input is an ancestor of another (DenseNet
      feeds every earlier map forward); such edges also get ``bundled`` when another
      path already implies them, so the layout can route them together.
    * branch: into a concatenation of independent branches (Inception), and out of the
      node where those branches fork.
    """
    index = {n: i for i, n in enumerate(order)}
    depth: dict[str, int] = {}
    for n in order:
        preds = list(graph.predecessors(n))
        depth[n] = 1 + max((depth[p] for p in preds if p in depth), default=-1)
    dense_owners = {p for p, r in records.items() if r.block_type in ("dense_layer", "dense_block")}
    ancestors = _ancestor_masks(graph, index)
    source_mask = 0
    for n in order:
        if graph.nodes[n]["op"] == "placeholder":
            source_mask |= 1 << index[n]

    def from_input(p: str) -> bool:
        return bool((ancestors[p] | 1 << index[p]) & source_mask)

    for n in order:
        a = graph.nodes[n]
        if a.get("aux"):
            for p in graph.predecessors(n):
                graph.edges[p, n]["kind"] = "aux"
    for n in order:
        a = graph.nodes[n]
        inputs = [p for p in graph.predecessors(n) if graph.nodes[p].get("shape") is not None]
        if a["category"] == "add" and not a.get("aux"):
            # adding a bias or a learned coefficient (LeNet-5's subsampling) is no shortcut
            inputs = [p for p in inputs if from_input(p)]
            if len(inputs) < 2:
                continue
            skip = min(inputs, key=lambda p: (depth[p], index[p]))
            _mark_shortcut(graph, skip, n)
        elif a["category"] == "concat" and not a.get("aux"):
            if len(inputs) == 1:
                owners = set(_prefixes(a["module_path"]))
                if owners & dense_owners:
                    graph.edges[inputs[0], n]["kind"] = "dense"
                continue
            if len(inputs) < 2:
                continue
            latest = max(inputs, key=index.__getitem__)
            before_latest = ancestors[latest]
            if any(before_latest >> index[p] & 1 for p in inputs if p != latest):
                for p in inputs:
                    edge = graph.edges[p, n]
                    edge["kind"] = "dense"
                    if before_latest >> index[p] & 1:
                        edge["bundled"] = True
            else:
                _mark_branches(graph, inputs, n, index, ancestors, order)


def _ancestor_masks(graph: nx.DiGraph, index: dict[str, int]) -> dict[str, int]:
    """Every node's ancestors as a bit mask (bit ``index[n]`` set for ancestor ``n``).

    One pass in topological order, each node OR-ing its predecessors' masks, instead of
    a graph search per concatenation: DenseNet-201 has ~100 concatenations of up to 50
    inputs, and searching back from each was a fifth of its graph-building time.
    """
    masks: dict[str, int] = {}
    for n in nx.topological_sort(graph):
        mask = 0
        for p in graph.predecessors(n):
            mask |= masks[p] | 1 << index[p]
        masks[n] = mask
    return masks


def _prefixes(path: str) -> list[str]:
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _mark_shortcut(graph: nx.DiGraph, skip: str, add: str) -> None:
    graph.edges[skip, add]["kind"] = "residual"
    node = skip
    # Walk back along a projection (1x1 conv + BN) to the fork it leaves from.
    for _ in range(8):
        preds = [p for p in graph.predecessors(node) if graph.nodes[p].get("shape") is not None]
        if len(preds) != 1 or graph.out_degree(node) != 1:
            break
        graph.edges[preds[0], node]["kind"] = "residual"
        node = preds[0]
        if graph.out_degree(node) > 1:
            break


def _mark_branches(graph: nx.DiGraph, inputs: list[str], concat: str, index: dict[str, int],
                   ancestors: dict[str, int], order: list[str]) -> None:
    common, union = -1, 0
    for p in inputs:
        graph.edges[p, concat]["kind"] = "branch"
        reach = ancestors[p] | 1 << index[p]
        common &= reach
        union |= reach
    if not common:
        return
    fork = order[common.bit_length() - 1]  # the latest node every branch comes from
    for s in graph.successors(fork):
        edge = graph.edges[fork, s]
        if union >> index[s] & 1 and edge["kind"] == "plain":
            edge["kind"] = "branch"


# ----------------------------------------------------------------- hook-based fallback


def build_hook_graph(model: nn.Module, input_shape: tuple[int, ...], *, name: str,
                     warning: str) -> ModelGraph:
    """Module-level graph of one real forward pass, recorded with forward hooks.

    Used when fx cannot trace a model (data-dependent control flow): it follows the path
    the data actually took. Each leaf module call is a node; it is linked to the call that
    produced its input tensor, or to the previous call when the input came from plain
    tensor arithmetic the hooks cannot see (those edges carry ``inferred``).
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
                   layer_type="input", category="input", hparams={}, label="x", summary="input")
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
            attrs["label"] = path.rsplit(".", 1)[-1]
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
    except Exception as exc:
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
    full_warning = f"{warning}; showing a module-level graph recorded with forward hooks instead"
    return finish_graph(model, graph, order, name, input_shape, traced=False, warning=full_warning)
