"""The one fx tracer: the graph view and the feature-map stepper both trace with it.

Node ids in the graph view and node names in the stepper match by construction: both
call :func:`fx_trace` and name nodes by ``fx.Node.name``; module paths come from
:func:`module_path_of`. The trace is what ``torch.fx.symbolic_trace`` builds (default leaf
modules plus classes that set ``fx_leaf = True``, eval mode) without compiling it into a GraphModule, which nothing here needs.
"""

from __future__ import annotations

import bisect
import collections
import dis
import linecache
import re
import sys
import threading
import traceback
import types
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.fx.proxy import Attribute, ParameterProxy, Scope

from explorer.errors import UserError


class GraphTraceError(UserError):
    """fx could not trace a model; the message names the operation that stopped it."""


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


class _UnpackingProxy:
    """fx's ``Proxy.__iter__`` (``a, b, c = proxy``), reading the caller's bytecode once.

    fx disassembles the calling function on every unpacking to see how many values it
    wants: MaxViT unpacks 88 times in 3 functions (32 ms of a 120 ms trace). The same
    instruction list, kept per code object for the trace, gives the same answer.
    """

    tracer: _Tracer

    def __iter__(self) -> Any:
        caller = sys._getframe(1)
        instructions = self.tracer.instructions(caller.f_code)
        if sys.version_info >= (3, 11):
            inst = instructions[bisect.bisect_left(instructions, caller.f_lasti, key=lambda x: x.offset)]
        else:
            inst = instructions[caller.f_lasti // 2]
        if inst.opname == "UNPACK_SEQUENCE":
            return (self[i] for i in range(inst.argval))  # type: ignore[index]
        return self.tracer.iter(self)  # type: ignore[arg-type]

    def __getattr__(self, k: str) -> Any:
        return _Attribute(self, k)  # x.shape unpacks too (B, C, H, W = x.shape)


class _Proxy(_UnpackingProxy, torch.fx.Proxy):
    pass


class _Attribute(_UnpackingProxy, Attribute):
    pass


# Named as fx's own: a model that misuses a proxy (int(x.size(1)) in forward) fails with
# the message fx's proxies give ("... not 'Proxy'"), which describe_trace_failure shows.
_Proxy.__name__ = _Proxy.__qualname__ = "Proxy"
_Attribute.__name__ = _Attribute.__qualname__ = "Attribute"


_PLAIN_ARGS = (int, float, bool, str, type(None))
_PROXIES = (torch.fx.Proxy, _Proxy)
_TRACE_LOCK = threading.Lock()


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
        self._thread = threading.get_ident()
        self._names: dict[str, dict[int, str]] = {}  # see _tensor_names; one tracer per trace
        self._instructions: dict[types.CodeType, list[dis.Instruction]] = {}

    def proxy(self, node: torch.fx.Node) -> torch.fx.Proxy:
        return _Proxy(node, self)

    def instructions(self, code: types.CodeType) -> list[dis.Instruction]:
        """``code``'s bytecode, as fx's Proxy.__iter__ reads it (see _UnpackingProxy)."""
        found = self._instructions.get(code)
        if found is None:
            found = self._instructions[code] = list(dis.get_instructions(code))
        return found

    # While it traces, fx patches nn.Module.__call__ and __getattr__ for the whole process.
    # A model another thread runs meanwhile (the feature-map stepper while an explain view
    # traces its copy) would be recorded into this trace and fail ("module is not installed
    # as a submodule"): calls from other threads go straight through.
    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:
        if threading.get_ident() != self._thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        if threading.get_ident() != self._thread:
            return attr_val
        # fx finds a parameter's name by walking root.named_parameters() (Swin-V2-S: 401
        # in 432 modules) on every access in forward, 120 a trace: 60 % of its trace time.
        # A table made once per trace gives the same answer: the first name
        # named_parameters() (then named_buffers()) gives the tensor.
        if isinstance(attr_val, nn.Parameter):
            name = self._tensor_names("parameters").get(id(attr_val))
            if name is None:  # not the model's (or registered since): fx's own search
                return super().getattr(attr, attr_val, parameter_proxy_cache)
            return self._attr_proxy(name, attr_val, parameter_proxy_cache)
        if self.proxy_buffer_attributes and isinstance(attr_val, torch.Tensor):
            name = self._tensor_names("buffers").get(id(attr_val))
            if name is not None:
                return self._attr_proxy(name, attr_val, parameter_proxy_cache)
        return attr_val

    def _tensor_names(self, kind: str) -> dict[int, str]:
        """id(tensor) -> its first name in root.named_parameters() or root.named_buffers()."""
        table = self._names.get(kind)
        if table is None:
            named = self.root.named_parameters() if kind == "parameters" else self.root.named_buffers()
            table = self._names[kind] = {}
            for name, tensor in named:
                table.setdefault(id(tensor), name)
        return table

    def _attr_proxy(self, name: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        # what torch.fx.Tracer.getattr makes for a parameter or buffer it found
        if name not in parameter_proxy_cache:
            factory = None
            if self.param_shapes_constant:
                def factory(node: torch.fx.Node) -> torch.fx.Proxy:
                    return ParameterProxy(self, node, name, attr_val)
            parameter_proxy_cache[name] = self.create_proxy("get_attr", name, (), {},
                                                            proxy_factory_fn=factory)
        return parameter_proxy_cache[name]

    def create_arg(self, a: Any) -> Any:
        kind = type(a)
        if kind in _PROXIES:
            return a.node
        if kind in _PLAIN_ARGS:
            return a
        if kind is list or kind is tuple:
            return kind([self.create_arg(x) for x in a])
        if isinstance(a, torch.Tensor) and not isinstance(a, nn.Parameter):
            # fx walks root.named_buffers() for every tensor argument (Swin's and MaxViT's
            # relative-position indices, 22 to 24 a trace); the table gives its answer.
            # (The table is made at the first lookup: a buffer that forward itself
            # registers later would be stowed as a constant instead, as fx does for any
            # tensor that is no buffer.)
            name = self._tensor_names("buffers").get(id(a))
            if name is not None:
                return self.create_node("get_attr", name, (), {})
            return self._tensor_constant(a)
        return super().create_arg(a)

    def _tensor_constant(self, a: torch.Tensor) -> torch.fx.Node:
        # what torch.fx.Tracer.create_arg does with a tensor that is no buffer: a
        # get_attr of the model's attribute holding it, or of one made to hold it
        qualname = self.tensor_attrs.get(a)
        if not qualname:
            qualname = self.get_fresh_qualname("_tensor_constant")
            self.tensor_attrs[a] = qualname
            setattr(self.root, qualname, a)
        return self.create_node("get_attr", qualname, (), {})

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        # A layer that says it is one node (LeNet-5's C1..F6 and RBF output) stays one
        # node: its inside is arithmetic on its own parameters, not architecture.
        return bool(getattr(type(m), "fx_leaf", False)) or super().is_leaf_module(m, module_qualified_name)


def fx_trace(model: nn.Module) -> torch.fx.Graph:
    """The graph ``torch.fx.symbolic_trace`` would build for ``model`` in eval mode.

    The model is traced in eval mode (GoogLeNet and Inception v3 return auxiliary logits
    only in training) and its mode is restored afterwards. Making the GraphModule would
    generate and compile Python source for the whole forward (a third of DenseNet-201's
    trace time); callers run the graph against the original module instead.

    Raises:
        Whatever fx raises on code it cannot trace (``TraceError``, ``TypeError``,
        ``RuntimeError``...); :func:`describe_trace_failure` turns it into one line.
    """
    # One trace at a time: each saves and restores the patched methods, and two that
    # overlap restore them out of order, leaving the first's patch in place for good.
    with _TRACE_LOCK:
        # build_graph has put the model in eval mode already: when no module is training,
        # eval() and train(False) would change nothing, and each walks every module
        # setting attributes (3.6 ms apiece for EfficientNet-V2-L's 1,000 modules)
        training = any(m.training for m in model.modules())
        was_training = model.training
        if training:
            model.eval()
        try:
            graph = _Tracer().trace(model)
        finally:
            if training:
                model.train(was_training)
    if isinstance(model, torch.fx.GraphModule):
        _adopt_module_stacks(graph, model.graph)
    return graph


def _adopt_module_stacks(traced: torch.fx.Graph, source: torch.fx.Graph) -> None:
    """Give the functions of a traced GraphModule (a ``.pt2`` program rebuilt into layers,
    ``explorer/models/program_rehydrate.py``) the module each was called in originally.

    Its forward is flat, so fx records every function (a residual ``add``, a ``cat``) at the
    top level; the program's own nodes still say which block made the call
    (``nn_module_stack``). The two graphs hold the same calls in the same order: they are
    paired in order, and nothing is adopted when they differ.
    """
    def calls(graph: torch.fx.Graph) -> list[torch.fx.Node]:
        return [n for n in graph.nodes if n.op in ("call_function", "call_method", "call_module")]

    ours, theirs = calls(traced), calls(source)
    if len(ours) != len(theirs) or any(a.op != b.op or a.target != b.target for a, b in zip(ours, theirs, strict=True)):
        return
    for node, original in zip(ours, theirs, strict=True):
        stack = original.meta.get("nn_module_stack")
        if node.op != "call_module" and stack and not node.meta.get("nn_module_stack"):
            node.meta["nn_module_stack"] = dict(stack)


def module_path_of(node: torch.fx.Node) -> str:
    """Dotted path of the module a node calls, or of the innermost module whose
    ``forward`` made the call ("" at top level)."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack")
    if stack:
        value = next(reversed(stack.values()))  # the innermost, without copying the stack
        return value[0] if isinstance(value, tuple) else str(value)
    return ""


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
