"""Output shape, dtype and FLOPs of every fx node, without doing the arithmetic.

The graph runs node by node on the meta device, or on fake tensors when the model holds
real weights, so even VGG costs no arithmetic; FLOPs come from
``torch.utils.flop_counter``. Shortcuts for shape-preserving layers, ``torch.cat`` and
repeated layers keep DenseNet-201 and ResNet-152 fast.
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


class _ShapeFlopInterpreter(torch.fx.Interpreter):
    """Runs the graph node by node, keeping each node's output shape and FLOPs."""

    def __init__(self, module: nn.Module, fx_graph: torch.fx.Graph, counter: FlopCounterMode) -> None:
        super().__init__(module, garbage_collect_values=True, graph=fx_graph)
        self.counter = counter
        self.results: NodeResults = {}
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
        counted = self.counter.get_total_flops() - before
        # LeNet-5's C3 counts its connection table's work, not its dense kernel's.
        self._replayed_flops = flop_correction(module, out, counted)
        if key is not None and isinstance(out, Tensor):
            self._repeats[key] = (out, counted)
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

