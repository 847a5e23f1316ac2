"""One unit's arithmetic: which explainer reads which layer kind, where the unit is, and
the check of the recomputed value against the model's own (no Qt)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from explorer.activations.stepper import NodeCall, NodeRecord, Stepper, StepperError
from explorer.errors import UserError
from explorer.explain.units import pointwise, pools, sums
from explorer.explain.units.base import Explained, Term, array_dict, fmt
from explorer.models.architectures.lenet import (
    ConnectionTableConv2d,
    EuclideanRBF,
    LeNetConv2d,
    LeNetLinear,
    Subsampling,
)

#: How many of a sum's terms are listed one by one; the rest are summed.
TOP_TERMS = 8
#: Relative tolerance of the check on the CPU (float32 sums recomputed in float64), and on
#: an accelerator, whose convolutions and matrix products may round to TF32.
RTOL_CPU = 1e-4
RTOL_ACCELERATOR = 5e-3

NOT_EXPLAINED = "this layer's computation is not explained"


class UnitError(UserError):
    """The unit asked for is not there: an unknown node, a channel or position outside the
    node's output. The message names the valid range."""


@dataclasses.dataclass(frozen=True, eq=False)
class UnitArithmetic:
    """How one unit of one node was computed from the node's inputs, on the live tensors.

    Attributes:
        node: the node's title (as the graph shows it); node_index: its execution index.
        layer_kind: the node's kind (``Conv2d``, ``add``, ``LeNetConv2d``...).
        kind: the explanation's family (:data:`KINDS`; ``unexplained`` when none applies).
        unit: the unit's index in the node's output without the batch: (channel, y, x) in
            a map, (index,) in a vector.
        shape: the node's output shape without the batch.
        formula: one line with the numbers, ending in the value.
        terms: the numbers the value is made of, strongest first where they are many.
        value: the value recomputed from the terms in double precision (None: unexplained).
        model_value: the model's own value of the unit (for the output node: the
            probability the window shows, softmax of the logits).
        difference: ``value - model_value`` (None: unexplained).
        tolerance: the largest difference float32 rounding explains (relative to the size
            of what was summed); ``matches`` says whether the difference is within it.
        detail: the kind's payload (``ConvDetail``, ``BatchNormDetail``, ...) or None.
        notes: sentences a student needs beside the numbers.
        device: where the model ran.
    """

    node: str
    node_index: int
    layer_kind: str
    kind: str
    unit: tuple[int, ...]
    shape: tuple[int, ...]
    formula: str
    terms: tuple[Term, ...]
    value: float | None
    model_value: float
    difference: float | None
    tolerance: float
    detail: Any = None
    notes: tuple[str, ...] = ()
    device: str = "cpu"

    @property
    def explained(self) -> bool:
        return self.kind != "unexplained"

    @property
    def matches(self) -> bool:
        return self.difference is not None and abs(self.difference) <= self.tolerance

    @property
    def channel(self) -> int:
        return self.unit[0]

    @property
    def position(self) -> tuple[int, int] | None:
        """(y, x) in a map; None for a vector's unit."""
        return (self.unit[1], self.unit[2]) if len(self.unit) == 3 else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (arrays as lists); the CLI's ``--json``."""
        return {
            "node": self.node, "node_index": self.node_index, "layer_kind": self.layer_kind,
            "kind": self.kind, "unit": list(self.unit), "shape": list(self.shape),
            "formula": self.formula, "terms": [t.as_dict() for t in self.terms],
            "value": self.value, "model_value": self.model_value, "difference": self.difference,
            "tolerance": self.tolerance, "matches": self.matches, "notes": list(self.notes),
            "device": self.device,
            "detail": self.detail.as_dict() if hasattr(self.detail, "as_dict") else array_dict(self.detail),
        }


Explainer = Callable[[NodeCall, tuple, int, Sequence[NodeRecord]], Explained]


def _plain(function: Callable[[NodeCall, tuple, int], Explained]) -> Explainer:
    """An explainer that needs no other node's title."""
    return lambda call, unit, top, records: function(call, unit, top)


# Modules by class. LeNet-5's layers compute their own way: matched by exact class. Torch's
# layers: matched with their subclasses as long as those keep torch's forward.
_EXACT: dict[type, Explainer] = {
    LeNetConv2d: _plain(sums.explain_lenet_conv),
    ConnectionTableConv2d: _plain(sums.explain_connection_table),
    Subsampling: _plain(pools.explain_subsampling),
    LeNetLinear: _plain(sums.explain_lenet_linear),
    EuclideanRBF: _plain(sums.explain_rbf),
}
_MODULES: tuple[tuple[type, Explainer], ...] = (
    (nn.Conv2d, _plain(sums.explain_conv)),
    (nn.Linear, _plain(sums.explain_linear)),
    (nn.modules.batchnorm._BatchNorm, pointwise.explain_batch_norm),
    (nn.ReLU, pointwise.explain_activation),
    (nn.Hardtanh, pointwise.explain_activation),  # ReLU6 too
    (nn.LeakyReLU, pointwise.explain_activation),
    (nn.Sigmoid, pointwise.explain_activation),
    (nn.Tanh, pointwise.explain_activation),
    (nn.MaxPool2d, _plain(pools.explain_max_pool)),
    (nn.AvgPool2d, _plain(pools.explain_avg_pool)),
    (nn.AdaptiveAvgPool2d, _plain(pools.explain_adaptive_avg_pool)),
    (nn.LocalResponseNorm, _plain(pools.explain_lrn)),
    (nn.Dropout, pointwise.explain_identity),
    (nn.Dropout1d, pointwise.explain_identity),
    (nn.Dropout2d, pointwise.explain_identity),
    (nn.Dropout3d, pointwise.explain_identity),
    (nn.Identity, pointwise.explain_identity),
    (nn.Flatten, pointwise.explain_reshape),
)
# Functions and tensor methods by name.
_FUNCTIONS: dict[str, Explainer] = {
    **dict.fromkeys(("add", "iadd", "add_", "__add__", "__radd__", "__iadd__",
                     "mul", "imul", "mul_", "__mul__", "__rmul__"), pointwise.explain_binary),
    **dict.fromkeys(("cat", "concat", "concatenate"), pointwise.explain_cat),
    **dict.fromkeys(("flatten", "view", "reshape"), pointwise.explain_reshape),
    **dict.fromkeys(("relu", "relu_", "relu6", "hardtanh", "leaky_relu", "sigmoid", "tanh"),
                    pointwise.explain_activation),
    "max_pool2d": _plain(pools.explain_max_pool),
    "avg_pool2d": _plain(pools.explain_avg_pool),
    "adaptive_avg_pool2d": _plain(pools.explain_adaptive_avg_pool),
    **dict.fromkeys(("dropout", "dropout2d"), pointwise.explain_identity),
}

#: Every explanation family a unit can get (``unexplained``: none applies).
KINDS: tuple[str, ...] = (
    "input", "conv", "lenet_conv", "connection_table_conv", "batch_norm", "relu", "relu6", "hardtanh",
    "leaky_relu", "sigmoid", "tanh", "max_pool", "avg_pool", "adaptive_avg_pool", "subsampling", "lrn",
    "add", "mul", "cat", "flatten", "dropout", "identity", "linear", "lenet_linear", "rbf", "softmax",
    "unexplained",
)


def explainer_for(call: NodeCall) -> Explainer | None:
    """The explainer of ``call``'s layer kind, or None when no explainer knows it."""
    record = call.record
    if record.op == "placeholder":
        return pointwise.explain_input
    if record.op == "output":
        out = call.output
        return pointwise.explain_softmax if isinstance(out, torch.Tensor) and out.dim() == 2 else None
    if record.op == "call_module":
        module = call.module
        if type(module) in _EXACT:
            return _EXACT[type(module)]
        for cls, explainer in _MODULES:
            if isinstance(module, cls) and type(module).forward is cls.forward:
                return explainer
        return None
    if record.op in ("call_function", "call_method"):
        return _FUNCTIONS.get(record.target)
    return None


def _value_tensor(call: NodeCall) -> torch.Tensor:
    out = call.output
    if not isinstance(out, torch.Tensor):
        raise UnitError(f"{call.record.title} does not output a tensor: it has no units to explain")
    return out


def locate(shape: Sequence[int], title: str, channel: int, at: tuple[int, int] | None,
           values: torch.Tensor | None = None) -> tuple[int, ...]:
    """The unit index (without the batch) for ``channel`` and ``at`` in an output of
    ``shape`` (with the batch), or a :class:`UnitError` naming the valid range.

    ``at`` None in a map: the channel's strongest unit (its largest value, read from
    ``values``), or (0, 0) without values.
    """
    inner = tuple(int(s) for s in shape[1:])
    if len(inner) == 1:
        if at is not None:
            raise UnitError(f"{title} outputs a vector of {inner[0]} values (0..{inner[0] - 1}), not a map: "
                            "give the index as the channel, without a position")
        if not 0 <= channel < inner[0]:
            raise UnitError(f"index {channel} is outside {title}'s {inner[0]} values: 0..{inner[0] - 1}")
        return (channel,)
    if len(inner) != 3:
        raise UnitError(f"{title} outputs a {'x'.join(map(str, inner))} tensor: units are explained in "
                        "maps (channels x height x width) and vectors")
    channels, height, width = inner
    if not 0 <= channel < channels:
        raise UnitError(f"channel {channel} is outside {title}'s {channels} channels: 0..{channels - 1}")
    if at is None:
        if values is None:
            return (channel, 0, 0)
        best = int(torch.argmax(values[0, channel]))
        return (channel, best // width, best % width)
    y, x = at
    if not (0 <= y < height and 0 <= x < width):
        raise UnitError(f"unit ({y}, {x}) is outside {title}'s {height}x{width} map: y 0..{height - 1}, "
                        f"x 0..{width - 1}")
    return (channel, int(y), int(x))


def _model_value(call: NodeCall, unit: tuple[int, ...], kind: str) -> float:
    out = _value_tensor(call)
    if kind == "softmax":  # the probability the window's bars show
        logits = out.detach().to("cpu", torch.float32).reshape(out.shape[0], -1)[0]
        return float(torch.softmax(logits, dim=0)[unit[-1]])
    return float(out[(0,) + tuple(unit)])


def explain_call(call: NodeCall, records: Sequence[NodeRecord], channel: int, at: tuple[int, int] | None = None,
                 *, top: int = TOP_TERMS) -> UnitArithmetic:
    """The arithmetic of unit (``channel``, ``at``) of the node ``call`` ran
    (:meth:`Stepper.call_at`); ``records``: the stepper's nodes (for the titles of the
    nodes it read). Never raises for a layer it cannot explain: that unit's ``kind`` is
    ``unexplained`` and its model value is still read.

    Raises:
        UnitError: the unit is outside the node's output.
    """
    record = call.record
    out = _value_tensor(call)
    unit = locate(tuple(out.shape), record.title, channel, at, out)
    explainer = explainer_for(call)
    found: Explained | None = None
    notes: tuple[str, ...] = ()
    if explainer is not None:
        try:
            with torch.no_grad():
                found = explainer(call, unit, top, records)
        except Exception as exc:  # noqa: BLE001 - an odd layer must not break the panel
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            notes = (f"explaining {record.kind} failed: {reason[:200]}",)
    if found is None:
        found = Explained("unexplained", f"{NOT_EXPLAINED} ({record.kind})", (), None,
                          notes=notes or ((f"{record.kind} is not among the layer kinds explained yet; "
                                           "its value is the model's own"),))
    own = _model_value(call, unit, found.kind)
    accelerator = out.device.type != "cpu"
    rtol = RTOL_ACCELERATOR if accelerator else RTOL_CPU
    tolerance = rtol * max(found.scale, abs(own), 1e-3)
    notes = found.notes
    if accelerator:
        notes += ((f"computed on {out.device.type}: its kernels may round to TF32, so the check allows "
                   f"{rtol:g} of the sum's size"),)
    if call.zeroed:
        notes += (("a knockout gives this node zeros instead of "
                   + ", ".join(_zeroed_titles(call, records))),)
    if call.edited:
        notes += (("a knockout changes this node's output after the computation shown: the model's "
                   "value is the knocked-out one"),)
    value = found.value
    return UnitArithmetic(
        node=record.title, node_index=record.index, layer_kind=record.kind, kind=found.kind, unit=unit,
        shape=tuple(int(s) for s in out.shape[1:]), formula=found.formula, terms=found.terms, value=value,
        model_value=own, difference=None if value is None else value - own, tolerance=tolerance,
        detail=found.detail, notes=notes, device=str(out.device))


def _zeroed_titles(call: NodeCall, records: Sequence[NodeRecord]) -> list[str]:
    """The titles of the nodes whose values a knockout replaced by zeros in ``call``."""
    titles = []
    for path in call.zeroed:
        source: Any = call.sources
        for step in path:
            source = source[step]
        titles.append(records[source].title if isinstance(source, int) else "an input")
    return titles


def _unknown_node(stepper: Stepper, node: Any) -> UnitError:
    titles = [r.title for r in stepper.nodes]
    shown = ", ".join(titles) if len(titles) <= 12 else ", ".join(titles[:6] + ["..."] + titles[-3:])
    return UnitError(f"no node named {node!r}: give one of the {len(titles)} nodes' titles ({shown}) "
                     "or a module path")


def explain_unit(stepper: Stepper, node: str | int | None = None, channel: int = 0,
                 at: tuple[int, int] | None = None, *, top: int = TOP_TERMS) -> UnitArithmetic:
    """The arithmetic of unit (``channel``, ``at``) of ``node`` (default: the node shown
    now) on the stepper's current input. At the node shown now nothing is run again (the
    window's click); another node is replayed in private (at most one forward pass).

    Raises:
        UnitError: no input, an unknown node, or a unit outside the node's output.
    """
    try:
        index = stepper.position if node is None else stepper.index_of(node)
    except StepperError:
        raise _unknown_node(stepper, node) from None
    try:
        call = stepper.call_at(index)
    except StepperError as exc:
        raise UnitError(str(exc)) from None
    return explain_call(call, stepper.nodes, channel, at, top=top)


def unit_arithmetic(model: nn.Module, tensor: torch.Tensor, node: str | int, channel: int,
                    at: tuple[int, int] | None = None, *, top: int = TOP_TERMS,
                    device: str | torch.device = "cpu") -> UnitArithmetic:
    """The arithmetic of one unit of ``model`` (eval mode) on ``tensor`` (1, C, H, W): steps
    the model to ``node`` and reads the unit there. For many units of one model, hold a
    :class:`Stepper` and call :func:`explain_unit`.

    Raises:
        UnitError: an unknown node or a unit outside the node's output; StepperError: the
            model does not trace.
    """
    stepper = Stepper(model, device)
    try:
        index = stepper.index_of(node)
    except StepperError:
        raise _unknown_node(stepper, node) from None
    stepper.set_input(tensor)
    stepper.run_to(index)
    return explain_unit(stepper, None, channel, at, top=top)


def describe(result: UnitArithmetic) -> list[str]:
    """The unit's arithmetic as lines of text (the CLI's output)."""
    if len(result.unit) == 3:
        where = f"channel {result.unit[0]} at ({result.unit[1]}, {result.unit[2]})"
    else:
        where = f"{'class' if result.kind == 'softmax' else 'index'} {result.unit[0]}"
    node = result.node if f"({result.layer_kind})" in result.node else f"{result.node} ({result.layer_kind})"
    lines = [f"{node}, {where}: {result.kind}", f"  {result.formula}"]
    if result.terms:
        lines.append("  terms:")
        lines += [f"    {t.label:<44} {fmt(t.value):>12}" for t in result.terms]
    for note in result.notes:
        lines.append(f"  note: {note}")
    if result.value is None:
        lines.append(f"  model value   {result.model_value:.7g}")
        return lines
    mark = "ok" if result.matches else "MISMATCH"
    lines += [f"  value         {result.value:.7g} (recomputed)",
              f"  model value   {result.model_value:.7g}",
              f"  difference    {result.difference:.2g} {mark} (tolerance {result.tolerance:.2g})"]
    return lines
