"""Units that read one value of their input (batch norm, activations, dropout, identity,
flatten), one value of each operand (residual addition), one value of one input
(concatenation), or every logit (softmax), and the input image itself (no Qt)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from explorer.explain.units.base import (
    Explained,
    Term,
    array_dict,
    batch_norm_numbers,
    bound,
    f64,
    fmt,
    frozen,
    num,
)


@dataclasses.dataclass(frozen=True)
class BatchNormDetail:
    """(x - running mean) / sqrt(running var + eps) * gamma + beta, every number."""

    x: float
    running_mean: float
    running_var: float
    eps: float
    gamma: float
    beta: float
    normalised: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ActivationDetail:
    """An elementwise function: its name, the input and the output, and where it clips.

    Attributes:
        function: ``relu``, ``relu6``, ``hardtanh``, ``leaky_relu``, ``sigmoid`` or ``tanh``.
        input, output: the unit's value before and after.
        clip: (low, high) a clipping function's limits (ReLU6: (0, 6)), else None.
        region: where the input fell (``negative: set to 0``, ``above 6: clipped to 6``...).
    """

    function: str
    input: float
    output: float
    clip: tuple[float, float] | None
    region: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SourceDetail:
    """A unit that copies one value from another node (concatenation, flatten, dropout,
    identity): where it comes from.

    Attributes:
        source: the title of the node whose value it is.
        source_index: that node's execution index (None: not a node's value).
        index: the unit's index in that node's output (without the batch), e.g.
            (channel, y, x).
        part, parts: concatenation: which of its inputs (0-based) and how many there are.
        sizes: concatenation: each input's size along the joined dimension.
    """

    source: str
    source_index: int | None
    index: tuple[int, ...]
    part: int | None = None
    parts: int | None = None
    sizes: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return array_dict(self)


@dataclasses.dataclass(frozen=True)
class OperandsDetail:
    """An elementwise addition (residual) or product: each operand's value at the unit.

    Attributes:
        op: ``add`` or ``mul``.
        operands: (role, source title, value) per operand; role is ``shortcut`` or
            ``branch`` for a residual addition, else ``operand 1``, ``operand 2``...
    """

    op: str
    operands: tuple[tuple[str, str, float], ...]

    def as_dict(self) -> dict[str, Any]:
        return array_dict(self)


@dataclasses.dataclass(frozen=True, eq=False)
class SoftmaxDetail:
    """p_c = exp(z_c - max z) / sum_j exp(z_j - max z), every number.

    Attributes:
        logits: (classes,) the model's outputs z; exps: exp(z_j - max z);
        max_logit: max z (subtracted so no exponential overflows; the result is the same);
        total: the sum of ``exps``; probabilities: (classes,) every class's share.
        top: the classes with the largest logits: (class, logit, probability).
    """

    logits: np.ndarray
    exps: np.ndarray
    max_logit: float
    total: float
    probabilities: np.ndarray
    top: tuple[tuple[int, float, float], ...]

    def as_dict(self) -> dict[str, Any]:
        return array_dict(self)


def _at(value: torch.Tensor, unit: tuple[int, ...]) -> float:
    return num(value[(0,) + tuple(unit)])


def _title(records: Any, index: int | None) -> str:
    """The title of the node at execution ``index`` (``records``: the stepper's nodes)."""
    return records[index].title if index is not None else "a constant"


def explain_input(call: Any, unit: tuple[int, ...], top: int, records: Any) -> Explained:
    value = _at(call.output, unit)
    return Explained("input", f"the input image's value at {unit} after preprocessing = {fmt(value)}",
                     (Term("input", value),), value, abs(value), None,
                     (("the image as the model reads it: resized and normalised with the "
                       "data set's mean and standard deviation"),))


def explain_batch_norm(call: Any, unit: tuple[int, ...], top: int, records: Any) -> Explained:
    m = call.module
    x = _at(call.args[0], unit)
    mean, var, eps, gamma, beta = batch_norm_numbers(m, unit[0])
    normalised = (x - mean) / math.sqrt(var + eps)
    value = normalised * gamma + beta
    d = BatchNormDetail(x, mean, var, eps, gamma, beta, normalised)
    formula = (f"({fmt(x)} - {fmt(mean)}) / sqrt({fmt(var)} + {eps:g}) * {fmt(gamma)} + {fmt(beta)} "
               f"= {fmt(normalised)} * {fmt(gamma)} + {fmt(beta)} = {fmt(value)}")
    terms = (Term("x", x), Term("running mean", mean), Term("running var", var), Term("eps", eps),
             Term("gamma", gamma), Term("beta", beta))
    notes = (("at evaluation batch norm uses the running mean and variance learned in training, "
              "not the statistics of this image"),)
    scale = (abs(x) + abs(mean)) / math.sqrt(var + eps) * abs(gamma) + abs(beta)
    return Explained("batch_norm", formula, terms, value, max(scale, abs(value)), d, notes)


def _activation(name: str, module: torch.nn.Module | None, args: tuple, kwargs: dict) -> tuple[str, Any, Any]:
    """(function, f, clip) of an activation module or call."""
    if name in ("ReLU", "relu", "relu_"):
        return "relu", lambda v: max(v, 0.0), None
    if name in ("ReLU6", "relu6", "Hardtanh", "hardtanh", "hardtanh_"):
        if module is not None:
            lo, hi = float(module.min_val), float(module.max_val)
        elif name == "relu6":
            lo, hi = 0.0, 6.0
        else:
            o = bound(("input", "min_val", "max_val"), args, kwargs, {"min_val": -1.0, "max_val": 1.0})
            lo, hi = float(o["min_val"]), float(o["max_val"])
        return ("relu6" if (lo, hi) == (0.0, 6.0) else "hardtanh"), lambda v: min(max(v, lo), hi), (lo, hi)
    if name in ("LeakyReLU", "leaky_relu"):
        slope = float(module.negative_slope) if module is not None else float(
            bound(("input", "negative_slope"), args, kwargs, {"negative_slope": 0.01})["negative_slope"])
        return "leaky_relu", lambda v: v if v >= 0 else slope * v, None
    if name in ("Sigmoid", "sigmoid"):
        return "sigmoid", lambda v: 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)), None
    return "tanh", math.tanh, None


_CURVES = {"relu": "max(0, x)", "relu6": "min(max(0, x), 6)", "hardtanh": "min(max(lo, x), hi)",
           "leaky_relu": "x if x >= 0 else slope * x", "sigmoid": "1 / (1 + exp(-x))", "tanh": "tanh(x)"}


def explain_activation(call: Any, unit: tuple[int, ...], top: int, records: Any) -> Explained:
    record = call.record
    name = record.kind if call.module is not None else record.target
    function, f, clip = _activation(name, call.module, call.args, call.kwargs)
    x = _at(call.args[0], unit)
    value = f(x)
    if clip is not None:
        region = (f"below {clip[0]:g}: clipped to {clip[0]:g}" if x < clip[0] else
                  f"above {clip[1]:g}: clipped to {clip[1]:g}" if x > clip[1] else "inside the limits: passed")
    elif function in ("relu", "leaky_relu"):
        region = ("negative: set to 0" if function == "relu" else "negative: scaled down") if x < 0 else "passed"
    else:
        region = "squashed" + (" (saturated)" if abs(x) > 4 else "")
    d = ActivationDetail(function, x, value, clip, region)
    formula = f"{function}({fmt(x)}) = {_CURVES[function]} = {fmt(value)} ({region})"
    notes = (("ReLU6 clips at 6 as well as at 0, so the values stay in range for low-precision "
              "arithmetic (MobileNet)"),) if function == "relu6" else ()
    return Explained(function, formula, (Term("input", x),), value, max(abs(x), abs(value)), d, notes)


def explain_identity(call: Any, unit: tuple[int, ...], top: int, records: Any) -> Explained:
    """Dropout at evaluation and ``nn.Identity``: the value passes unchanged."""
    x = _at(call.args[0], unit)
    source = call.sources[0] if call.sources else None
    d = SourceDetail(_title(records, source), source, tuple(unit))
    kind_name = call.record.kind
    if kind_name in ("Dropout", "Dropout2d", "dropout", "dropout2d"):
        p = getattr(call.module, "p", None) if call.module is not None else bound(
            ("input", "p"), call.args, call.kwargs, {"p": 0.5})["p"]
        kind = "dropout"
        formula = f"dropout at evaluation: the identity, {fmt(x)} = {fmt(x)}"
        notes = ((f"in training, dropout zeroes each value with probability {p:g} and scales the rest by "
                  "1/(1 - p) so the sum keeps its size; at evaluation it passes every value unchanged, "
                  "and the network uses all its units"),)
    else:
        kind = "identity"
        formula = f"identity: {fmt(x)} = {fmt(x)}"
        notes = ((f"nn.Identity stands where this form leaves a layer out ({call.record.title}); the "
                  "value passes unchanged"),)
    return Explained(kind, formula, (Term(f"x from {d.source}", x),), x, abs(x), d, notes)


def explain_reshape(call: Any, unit: tuple[int, ...], top: int, records: Any) -> Explained:
    """Flatten, view and reshape keep the order of the values: output index i is input
    index i counted the same way."""
    source_tensor = call.args[0]
    flat = int(np.ravel_multi_index(tuple(unit), tuple(call.output.shape[1:])))
    index = tuple(int(i) for i in np.unravel_index(flat, tuple(source_tensor.shape[1:])))
    x = _at(source_tensor, index)
    source = call.sources[0] if call.sources else None
    d = SourceDetail(_title(records, source), source, index)
    formula = f"value {flat} of the flattened map = {d.source}{list(index)} = {fmt(x)}"
    notes = ((f"flattening lays the {'x'.join(str(s) for s in source_tensor.shape[1:])} values out in "
              "one row, channel by channel, each channel row by row: nothing is computed"),)
    return Explained("flatten", formula, (Term(f"{d.source}{list(index)}", x),), x, abs(x), d, notes)


def _residual_roles(call: Any, sources: list[int | None], records: Any) -> list[str]:
    """``shortcut``/``branch`` for a two-operand addition inside a block (the branch is
    computed inside the block, the shortcut outside it or by its downsample), else
    ``operand i``."""
    block = call.record.module_path
    if len(sources) == 2 and block and all(s is not None for s in sources):
        paths = [records[s].module_path for s in sources]
        inside = [p == block or p.startswith(block + ".") for p in paths]
        skip = [any(w in p.split(".") for w in ("downsample", "shortcut")) for p in paths]
        roles = ["shortcut" if not i or k else "branch" for i, k in zip(inside, skip)]
        if sorted(roles) == ["branch", "shortcut"]:
            return roles
    return [f"operand {i + 1}" for i in range(len(sources))]


def explain_binary(call: Any, unit: tuple[int, ...], top: int, records: Any) -> Explained:
    """Elementwise addition (a residual block's) or product: each operand at the unit."""
    name = call.record.target
    op = "mul" if name in ("mul", "imul", "mul_", "__mul__", "__rmul__") else "add"
    operands = [call.args[0], call.args[1]]
    alpha = float(call.kwargs.get("alpha", 1.0))
    values = [_at(torch.broadcast_to(v, call.output.shape), unit) if isinstance(v, torch.Tensor) else float(v)
              for v in operands]
    sources = [s if isinstance(s, int) else None for s in call.sources[:2]]
    roles = _residual_roles(call, sources, records)
    if op == "add":
        values[1] *= alpha
        value = values[0] + values[1]
    else:
        value = values[0] * values[1]
    d = OperandsDetail(op, tuple((r, _title(records, s), v) for r, s, v in zip(roles, sources, values)))
    sign = " + " if op == "add" else " * "
    formula = sign.join(f"{r} {fmt(v)}" for r, v in zip(roles, values)) + f" = {fmt(value)}"
    terms = tuple(Term(f"{r} ({_title(records, s)})", v) for r, s, v in zip(roles, sources, values))
    notes = (("the shortcut carries the block's input past its layers, so the block only has to learn "
              "a correction to it (He et al. 2015)"),) if "shortcut" in roles else ()
    scale = sum(abs(v) for v in values) if op == "add" else abs(value)
    return Explained(op, formula, terms, value, max(scale, abs(value)), d, notes)


def explain_cat(call: Any, unit: tuple[int, ...], top: int, records: Any) -> Explained:
    """Concatenation: which input the unit comes from (an Inception branch, an earlier
    DenseNet layer), and its index there: that unit's own arithmetic is the next click."""
    o = bound(("tensors", "dim"), call.args, call.kwargs, {"dim": 0})
    tensors, dim = list(o["tensors"]), int(o["dim"])
    dim = dim if dim >= 0 else call.output.dim() + dim
    if dim < 1:
        raise ValueError("a concatenation along the batch has no unit to follow")
    found = call.sources[0] if call.sources else None
    sources = list(found) if isinstance(found, (list, tuple)) else [None] * len(tensors)
    axis = dim - 1  # the unit has no batch index
    sizes = [int(t.shape[dim]) for t in tensors]
    at = unit[axis]
    part = 0
    while at >= sizes[part]:
        at -= sizes[part]
        part += 1
    index = tuple(unit[:axis]) + (at,) + tuple(unit[axis + 1:])
    x = _at(tensors[part], index)
    d = SourceDetail(_title(records, sources[part]), sources[part], index, part, len(tensors), tuple(sizes))
    what = "channel" if dim == 1 else f"index along dim {dim}"
    formula = (f"{what} {unit[axis]} of the concatenation is input {part + 1} of {len(tensors)} "
               f"({d.source}), {what} {at} there = {fmt(x)}")
    starts = np.cumsum([0] + sizes)
    along = "the channels" if dim == 1 else f"dim {dim}"
    notes = (f"the inputs are stacked along {along}: " + ", ".join(
        f"{_title(records, s)} {a}..{b - 1}" for s, a, b in zip(sources, starts[:-1], starts[1:])),)
    return Explained("cat", formula, (Term(f"{d.source}{list(index)}", x),), x, abs(x), d, notes)


def explain_softmax(call: Any, unit: tuple[int, ...], top: int, records: Any) -> Explained:
    """The output's probabilities: softmax of the logits (the window's bars)."""
    logits_tensor = call.output if call.record.op == "output" else call.args[0]
    logits = f64(logits_tensor.reshape(logits_tensor.shape[0], -1)[0])
    c = unit[-1]
    biggest = num(logits.max())
    exps = torch.exp(logits - biggest)
    total = num(exps.sum())
    probabilities = exps / total
    value = num(probabilities[c])
    order = torch.argsort(logits, descending=True)[:top].tolist()
    d = SoftmaxDetail(frozen(logits), frozen(exps), biggest, total, frozen(probabilities),
                      tuple((i, num(logits[i]), num(probabilities[i])) for i in order))
    formula = (f"exp({fmt(num(logits[c]))} - {fmt(biggest)}) / sum of {logits.numel()} exps "
               f"= {fmt(num(exps[c]))} / {fmt(total)} = {fmt(value)}")
    terms = tuple(Term(f"class {i}: softmax of logit {fmt(z)}", p) for i, z, p in d.top)
    if c not in order:
        terms += (Term(f"class {c}: softmax of logit {fmt(num(logits[c]))}", value),)
    notes = (("the model outputs logits; the probabilities are their softmax, which the window's "
              "bars show (subtracting the largest logit changes nothing but avoids overflow)"),)
    return Explained("softmax", formula, terms, value, max(value, 1e-12), d, notes)
