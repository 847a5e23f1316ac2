"""Fast work on the meta device: building models and running them for their shapes.

A tensor on the meta device has a shape and no values, so counting a network's parameters,
shapes and FLOPs costs no arithmetic. What it still costs is torch's own bookkeeping: the
meta kernels of many ops (every activation, batch norm's decomposition, the random fills of
weight initialisation) run as Python reference implementations, a millisecond or more per
call. Inside :func:`shapes_only`, an op that gives a tensor of its input's shape, dtype and
layout and nothing else (activations, normalisations, dropout, in-place fills) answers
directly for a floating-point meta input: the input itself when the op works in place,
else an empty tensor like it. Ops on real tensors run as usual, and so does every op that
can change a shape (convolutions, pooling, matrix products, views), which FLOP counting
sees as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn import init
from torch.overrides import TorchFunctionMode

# Ops that keep their input's shape, dtype and layout: those that never work in place,
# those that always do (fills, trailing underscores), and those that take an ``inplace``
# argument (by its position in their signature, or by keyword).
_OUT_OF_PLACE = (
    torch.relu, torch.Tensor.relu, torch._C._nn.hardtanh, F.gelu, torch.sigmoid, torch.Tensor.sigmoid,
    F.sigmoid, torch.tanh, torch.Tensor.tanh, F.tanh,
    F.batch_norm, torch.batch_norm, F.layer_norm, F.group_norm, F.instance_norm, F.local_response_norm,
    torch.dropout,
)
_IN_PLACE = (
    torch.relu_, torch.Tensor.relu_, torch._C._nn.hardtanh_, torch.sigmoid_, torch.Tensor.sigmoid_, torch.tanh_,
    torch.Tensor.tanh_,
    # weight initialisation and the fills it is made of
    torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.zero_, torch.Tensor.fill_, torch.Tensor.erfinv_,
    torch.Tensor.mul_, torch.Tensor.add_, torch.Tensor.clamp_, torch.Tensor.copy_,
    init.uniform_, init.normal_, init.trunc_normal_, init.constant_, init.zeros_, init.ones_, init.xavier_uniform_,
    init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_, init.orthogonal_,
)
_INPLACE_ARGUMENT = (
    F.relu, F.relu6, F.hardtanh, F.elu, F.leaky_relu, F.silu, F.hardswish, F.hardsigmoid, F.mish,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
)
# By op: True (in place), False (not), or the position of its ``inplace`` argument.
_SHAPE_KEEPING: dict[Callable[..., Any], bool | int] = {
    **dict.fromkeys(_OUT_OF_PLACE, False),
    **dict.fromkeys(_IN_PLACE, True),
    **{f: list(inspect.signature(f).parameters).index("inplace") for f in _INPLACE_ARGUMENT},
}


def _in_place(how: bool | int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if isinstance(how, bool):
        return how
    if "inplace" in kwargs:
        return bool(kwargs["inplace"])
    return len(args) > how and bool(args[how])


class _ShapesOnly(TorchFunctionMode):
    """See :func:`shapes_only`."""

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        how = _SHAPE_KEEPING.get(func)
        if how is not None:
            first = args[0] if args else next(iter(kwargs.values()), None)
            if isinstance(first, torch.Tensor) and first.is_meta and first.is_floating_point():
                return first if _in_place(how, args, kwargs) else torch.empty_like(first)
        return func(*args, **kwargs)


def shapes_only() -> TorchFunctionMode:
    """A context in which ops that only keep a meta tensor's shape answer at once (see the
    module's docstring)."""
    return _ShapesOnly()


@contextmanager
def meta_device() -> Iterator[None]:
    """``torch.device("meta")`` under :func:`shapes_only`: modules built here get meta
    weights with no initialisation run, and the tensors made here are meta tensors."""
    with torch.device("meta"), shapes_only():
        yield

