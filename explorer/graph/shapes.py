"""Output shape, dtype and FLOPs of every fx node, without doing the arithmetic.

The graph runs node by node on the meta device, or on fake tensors when the model holds
real weights, so even VGG costs no arithmetic; FLOPs come from
``torch.utils.flop_counter``. Shortcuts for shape-preserving layers, ``torch.cat`` and
repeated layers keep DenseNet-201 and ResNet-152 fast; repeated calls (the same torch
function, method or attention layer on inputs of the same shapes) are run once per trace,
which keeps Swin, ViT and MaxViT fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.fx
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from explorer.graph import facts
from explorer.graph.tracer import GraphTraceError
from explorer.models.stats import flop_correction

#: Per node name: (output shape or None, dtype name or None, FLOPs).
NodeResults = dict[str, tuple[list[int] | None, str | None, int]]

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

# Calls that change a tensor's shape or strides in place (or write into ``out=``, which
# resizes it). A remembered output is handed to every later call with the same signature,
# so one of these could change it behind the memo's back: a graph that makes such a call
# runs without the memo (every node for real, as before it existed).
_RESHAPING_IN_PLACE = frozenset({
    "resize_", "resize_as_", "as_strided_", "squeeze_", "unsqueeze_", "t_", "transpose_",
    "swapaxes_", "swapdims_", "set_", "unflatten_",
})
# Python operators that assign: never remembered (they return nothing worth it anyway).
_ASSIGNING = frozenset({"setitem", "delitem", "iadd", "isub", "imul", "itruediv", "ifloordiv",
                        "imod", "ipow", "iand", "ior", "ixor", "ilshift", "irshift", "imatmul"})
# Values a call's signature holds as they are, with their type: 1, 1.0 and True are
# equal dictionary keys but not equal arguments.
_PLAIN_VALUES = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.memory_format,
                 torch.layout)
# The attributes every nn.Module has (hook dicts, training...): not part of a layer's settings.
_MODULE_INTERNALS = frozenset(nn.Module().__dict__)


class _NoSignature(Exception):
    """An argument whose value the memo cannot vouch for (a module, a callable, a SymInt...)."""


class _ShapeFlopInterpreter(torch.fx.Interpreter):
    """Runs the graph node by node, keeping each node's output shape and FLOPs."""

    def __init__(self, module: nn.Module, fx_graph: torch.fx.Graph, counter: FlopCounterMode) -> None:
        super().__init__(module, garbage_collect_values=True, graph=fx_graph)
        self.counter = counter
        self.results: NodeResults = {}
        # (layer class, its settings, input shapes) -> (output, FLOPs the counter gave)
        self._repeats: dict[tuple, tuple[Any, int]] = {}
        self._replayed_flops = 0
        # (target, signature of the arguments) -> (output, FLOPs the counter gave), for
        # function, method and composite-layer calls (see _call_signature)
        self._calls: dict[tuple, tuple[Any, int]] = {}
        self._memo = not _reshapes_in_place(fx_graph)
        self._layer_settings: dict[int, tuple] = {}  # id(module) -> _layer_settings(module)

    def run_node(self, n: torch.fx.Node) -> Any:
        before = self.counter.get_total_flops()
        self._replayed_flops = 0
        # Interpreter.run_node without its per-node debug logging and traceback
        # bookkeeping (a context manager per node); failures are reported by node below.
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        out = getattr(self, n.op)(n.target, args, kwargs)
        flops = self.counter.get_total_flops() - before + self._replayed_flops
        self._replayed_flops = 0
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
        key = None
        if self._memo and _worth_remembering(target, args):
            key = _call_signature(target, args, kwargs)
        return self._remembered(key, super().call_function, target, args, kwargs)

    def call_method(self, target: Any, args: tuple, kwargs: dict) -> Any:
        key = None
        if (self._memo and args and isinstance(args[0], Tensor) and isinstance(target, str)
                and not target.endswith("_")):
            key = _call_signature(("method", target), args, kwargs)
        return self._remembered(key, super().call_method, target, args, kwargs)

    def _remembered(self, key: tuple | None, call: Callable, target: Any, args: tuple,
                    kwargs: dict) -> Any:
        """``call(target, args, kwargs)``, or what the first call with signature ``key`` gave.

        On meta (and fake) tensors a call's output shape, dtype and FLOPs follow from its
        arguments' shapes, strides and dtypes and its plain arguments alone: Swin-V2-S
        makes 24 calls of ``shifted_window_attention`` (~12 ms each on meta tensors, the
        shift mask is built op by op) with 8 distinct signatures, and every ViT residual
        ``add`` (~0.25 ms: torch's meta kernel for it is Python) repeats the first.
        """
        if key is not None:
            hit = self._calls.get(key)
            if hit is not None:
                out, self._replayed_flops = hit
                return out
        before = self.counter.get_total_flops()
        out = call(target, args, kwargs)
        if key is not None and _rememberable(out):
            self._calls[key] = (out, self.counter.get_total_flops() - before)
        return out

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
        if key is None and self._memo and module._modules and _torch_layer(module):
            # A torch.nn layer with sublayers (ViT's nn.MultiheadAttention: 6 ms a call on
            # meta tensors, 24 calls in ViT-L) repeats an earlier call when its settings,
            # its parameters' shapes and its arguments' signatures are the same.
            return self._remembered(self._composite_key(module, args, kwargs),
                                    _call_forward, module, args, kwargs)
        if key is not None and key in self._repeats:
            out, self._replayed_flops = self._repeats[key]
            return out
        before = self.counter.get_total_flops()
        # Calling forward() directly skips the global module hooks, among them the flop
        # counter's own module tracker: its per-module breakdown is not used (each node's
        # FLOPs are the change of the global total), and keeping it up to date cost about
        # a tenth of a millisecond per layer.
        out = module.forward(*args, **kwargs)
        counted = self.counter.get_total_flops() - before
        # LeNet-5's C3 counts its connection table's work, not its dense kernel's.
        self._replayed_flops = flop_correction(module, out, counted)
        if key is not None and isinstance(out, Tensor):
            self._repeats[key] = (out, counted)
        return out

    def _composite_key(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple | None:
        settings = self._layer_settings.get(id(module))
        if settings is None:
            settings = self._layer_settings[id(module)] = _layer_settings(module)
        if not settings:
            return None
        return _call_signature(settings, args, kwargs)


def _call_forward(module: nn.Module, args: tuple, kwargs: dict) -> Any:
    # forward() itself, as for any other layer below (no global module hooks)
    return module.forward(*args, **kwargs)


def _reshapes_in_place(fx_graph: torch.fx.Graph) -> bool:
    """Whether a node changes a tensor's shape or strides in place (see _RESHAPING_IN_PLACE)."""
    for n in fx_graph.nodes:
        if n.op in ("call_function", "call_method"):
            name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
            if name in _RESHAPING_IN_PLACE or "out" in n.kwargs:
                return True
    return False


def _worth_remembering(target: Any, args: tuple) -> bool:
    """Whether a call of ``target`` on ``args`` may be remembered: a torch (or torchvision)
    function, or a Python operator on a tensor, so that its output's shape and FLOPs
    depend on its arguments alone (a user's function may read anything)."""
    owner = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", "")
    if name.endswith("_") or name in _ASSIGNING:
        return False  # in place: its output is its argument, which the memo cannot hand back
    if owner in ("_operator", "builtins"):
        # x + y and x[i] dispatch to torch; chunks[0], x.shape[2] and getattr(x, "shape")
        # are lookups, cheaper than their signature
        return name != "getattr" and bool(args) and isinstance(args[0], Tensor)
    return owner.startswith("torch")


def _torch_layer(module: nn.Module) -> bool:
    return type(module).__module__.startswith("torch.nn.")


def _rememberable(out: Any) -> bool:
    """A tensor, or a tuple of tensors and Nones (nn.MultiheadAttention's (output, None)):
    immutable, so handing the same one to a later call is safe."""
    if isinstance(out, Tensor):
        return True
    return type(out) is tuple and all(o is None or isinstance(o, Tensor) for o in out)


def _signature(value: Any) -> Any:
    """What a call's output shape can depend on in one argument, hashable; a tensor by
    its metadata (never its values: there are none on meta or fake tensors).

    Raises:
        _NoSignature: for anything else (a module, a callable, a SymInt...).
    """
    kind = type(value)
    if kind in _PLAIN_VALUES:
        return kind, value
    if isinstance(value, Tensor):
        if value.layout is not torch.strided:
            raise _NoSignature
        return kind, tuple(value.shape), value.stride(), value.storage_offset(), value.dtype, value.device
    if isinstance(value, (tuple, list)):  # torch.Size, fx's immutable_list too
        return kind, tuple(_signature(v) for v in value)
    if kind is slice:
        return kind, _signature(value.start), _signature(value.stop), _signature(value.step)
    if value is Ellipsis:
        return (kind,)
    raise _NoSignature


def _call_signature(target: Any, args: tuple, kwargs: dict) -> tuple | None:
    """(target, arguments' signatures), or None when an argument (or the target) has none."""
    try:
        hash(target)
        return (target, tuple(_signature(a) for a in args),
                tuple((k, _signature(v)) for k, v in kwargs.items()))
    except (_NoSignature, TypeError):  # TypeError: an unhashable target
        return None


def _layer_settings(module: nn.Module) -> tuple:
    """Everything a torch.nn layer's forward can read, per sublayer: class, training mode,
    attributes (``embed_dim``, ``num_heads``, ``batch_first``...) and its parameters' and
    buffers' signatures; () when an attribute is something a signature cannot hold, or
    when a sublayer has hooks (a remembered call would not run them)."""
    out = []
    try:
        for path, sub in module.named_modules(remove_duplicate=False):
            if sub._forward_hooks or sub._forward_pre_hooks:
                return ()
            attrs = tuple((k, _signature(v)) for k, v in sub.__dict__.items() if k not in _MODULE_INTERNALS)
            tensors = tuple((k, _signature(v)) for k, v in (*sub._parameters.items(), *sub._buffers.items()))
            out.append((path, type(sub), sub.training, attrs, tensors))
    except _NoSignature:
        return ()
    return tuple(out)


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


def on_meta(model: nn.Module) -> bool:
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



@contextlib.contextmanager
def _tensor_mode(model: nn.Module) -> Iterator[Callable[[tuple[int, ...]], Tensor]]:
    """Yield a factory of input tensors that cost no arithmetic.

    A model built on the meta device runs as is; one with real weights runs under fake
    tensors, which read its weights' shapes without touching their values.
    """
    if on_meta(model):
        with torch.no_grad():
            yield lambda shape: torch.empty(shape, device="meta")
        return
    from torch._subclasses.fake_tensor import FakeTensorMode

    fake = FakeTensorMode(allow_non_fake_inputs=True)
    with torch.no_grad(), fake:
        yield lambda shape: torch.empty(shape)


def propagate_shapes(fx_graph: torch.fx.Graph, model: nn.Module,
                     input_shapes: list[tuple[int, ...]]) -> NodeResults:
    """Run ``fx_graph`` against ``model`` on empty inputs of ``input_shapes``.

    Raises:
        GraphTraceError: the model cannot run on those shapes; names the last node that ran.
    """
    with _tensor_mode(model) as make, FlopCounterMode(display=False) as counter:
        interpreter = _ShapeFlopInterpreter(model, fx_graph, counter)
        try:
            interpreter.run(*[make(s) for s in input_shapes])
        except Exception as exc:  # noqa: BLE001 - reported with the node it failed after
            failing = next(reversed(interpreter.results), None) if interpreter.results else None
            raise GraphTraceError(
                f"cannot run {type(model).__name__} on an input of shape "
                f"{tuple(input_shapes[0])}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
                + (f" (after node {failing})" if failing else "")
            ) from exc
    return interpreter.results

