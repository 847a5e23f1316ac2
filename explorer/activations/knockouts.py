"""Knockouts node by node: what the stepper does at which node so that its pass computes
the knocked-out network.

The knockout lab (:mod:`explorer.explain.knockout`) switches a part off with hooks on
modules. The stepper runs the fx graph flattened to leaf modules, where a block's or a
dense layer's own hooks never fire, so the same knockouts become edits of single nodes,
with the same results:

- ``channel``: the module's output has channel ``index`` zeroed (a leaf: every node that
  calls it; a container: the node whose value leaves it);
- ``branch``, projection ``shortcut``, ``aux_head``: the module's output becomes zeros;
- identity ``shortcut`` (``block`` set): the block's residual addition is given zeros for
  its argument from outside the block (the block's input), so it adds only its own path;
- ``dense_group``: the dense layer's concatenation is given zeros for input group ``index``.

Every edit makes new tensors: values that other nodes still read, and parameters, are
never changed in place. The explain layer's :class:`~explorer.explain.knockout_spec.Knockout`
is taken as it is, by its attributes (:meth:`NodeKnockout.of`): activations sits below
explain and may not import it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx

from explorer.errors import UserError

#: Call names of a binary addition (``out + identity``, ``out += identity``, ``torch.add``).
ADD_NAMES = frozenset({"add", "iadd", "add_", "__add__", "__iadd__"})


class KnockoutPlanError(UserError):
    """A knockout names a module, block or dense layer the stepped graph cannot edit."""


@dataclasses.dataclass(frozen=True)
class NodeKnockout:
    """One part switched off, in the terms the stepper needs.

    Attributes:
        kind: ``channel``, ``branch``, ``shortcut``, ``dense_group`` or ``aux_head``.
        module: path of the module switched off (for an identity shortcut, the module
            that ends the residual path; the stepper uses ``block``).
        index: the channel (``channel``) or input group (``dense_group``), else None.
        block: for an identity shortcut, the block whose addition loses its input.
    """

    kind: str
    module: str
    index: int | None = None
    block: str | None = None

    @classmethod
    def of(cls, item: Any) -> NodeKnockout:
        """``item`` as a NodeKnockout: any object with ``kind``, ``module`` and optionally
        ``index`` and ``block`` (the explain layer's ``Knockout``)."""
        if isinstance(item, cls):
            return item
        index = getattr(item, "index", None)
        block = getattr(item, "block", None)
        return cls(str(item.kind), str(item.module), None if index is None else int(index),
                   None if block is None else str(block))


@dataclasses.dataclass
class NodeEdit:
    """What the stepper changes at one node.

    Attributes:
        zeroed: argument positions given zeros instead of their value: ``(i,)`` is the
            i-th positional argument, ``(i, j)`` item j of the list that argument is.
        after: functions applied in order to the node's output, each returning a new value.
    """

    zeroed: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    after: list[Callable[[Any], Any]] = dataclasses.field(default_factory=list)


class Zeros:
    """An argument replaced by zeros shaped like the value of ``node``."""

    __slots__ = ("node",)

    def __init__(self, node: fx.Node) -> None:
        self.node = node

    def __repr__(self) -> str:
        return f"Zeros({self.node.name})"


def _under(path: str, module_path: str) -> bool:
    return not path or module_path == path or module_path.startswith(path + ".")


def _inputs(args: Any, kwargs: Any) -> list[fx.Node]:
    found: dict[fx.Node, None] = {}
    fx.node.map_arg((args, kwargs), lambda n: found.setdefault(n))
    return list(found)


def plan_knockouts(knockouts: Sequence[NodeKnockout], records: Sequence[Any],
                   nodes: Sequence[fx.Node], step_args: Sequence[tuple[Any, Any]],
                   aux_paths: Sequence[str] = ()) -> dict[int, NodeEdit]:
    """The edits, by step index, that make a stepped pass compute the knocked-out network.

    Args:
        knockouts: what is switched off.
        records: the stepper's ``NodeRecord`` of every step (``op``, ``target``,
            ``module_path``, ``kind``), in execution order.
        nodes: the fx node of every step.
        step_args: each step's (args, kwargs) as the stepper runs them.
        aux_paths: module paths of the auxiliary heads stepped with the rest.

    Raises:
        KnockoutPlanError: a knockout names nothing this graph can edit.
    """
    position = {node: i for i, node in enumerate(nodes)}
    readers: list[list[int]] = [[] for _ in nodes]
    for j, (args, kwargs) in enumerate(step_args):
        for used in _inputs(args, kwargs):
            if used in position:
                readers[position[used]].append(j)
    in_aux = [any(_under(a, r.module_path) for a in aux_paths) for r in records]
    edits: dict[int, NodeEdit] = {}

    def edit(i: int) -> NodeEdit:
        return edits.setdefault(i, NodeEdit())

    for knockout in knockouts:
        if knockout.kind == "shortcut" and knockout.block is not None:
            i, at = _identity_add(knockout, records, nodes, step_args)
            edit(i).zeroed.append(at)
        elif knockout.kind == "dense_group":
            i, at = _dense_concat(knockout, records, step_args)
            edit(i).zeroed.append(at)
        elif knockout.kind == "aux_head" and not any(_under(knockout.module, r.module_path)
                                                     for r in records):
            continue  # a head the stepper does not run changes nothing it shows
        elif knockout.kind in ("channel", "branch", "shortcut", "aux_head"):
            if knockout.kind == "channel" and knockout.index is None:
                raise KnockoutPlanError(f"channel knockout of {knockout.module} names no channel")
            change = _zero_channel(knockout.index) if knockout.kind == "channel" else zeros_of
            for i in _outputs_of(knockout.module, records, readers, in_aux, aux_paths):
                edit(i).after.append(change)
        else:
            raise KnockoutPlanError(f"unknown knockout kind {knockout.kind!r}")
    return edits


def _members(path: str, records: Sequence[Any]) -> list[int]:
    members = [r.index for r in records if _under(path, r.module_path)]
    if not members:
        raise KnockoutPlanError(f"no stepped node runs inside {path!r}")
    return members


def _outputs_of(path: str, records: Sequence[Any], readers: list[list[int]],
                in_aux: list[bool], aux_paths: Sequence[str]) -> list[int]:
    """The steps whose output is the module's output: every call of a leaf module, else
    the last node whose value leaves the module (its last node when none does: an
    auxiliary head's output)."""
    calls = [r.index for r in records if r.op == "call_module" and r.target == path]
    if calls:
        return calls
    members = _members(path, records)
    inside = set(members)
    # Readers in auxiliary heads do not count, as in the graph's own notion of an output,
    # unless the module itself is part of a head.
    count_aux = any(_under(a, path) for a in aux_paths)
    leaving = [i for i in members
               if any(j not in inside and (count_aux or not in_aux[j]) for j in readers[i])]
    return [max(leaving) if leaving else max(members)]


def _identity_add(knockout: NodeKnockout, records: Sequence[Any], nodes: Sequence[fx.Node],
                  step_args: Sequence[tuple[Any, Any]]) -> tuple[int, tuple[int, ...]]:
    """The block's last addition with exactly one argument from outside the block."""
    block = str(knockout.block)
    members = _members(block, records)
    inside = {nodes[i] for i in members}
    for i in reversed(members):
        record = records[i]
        if record.op not in ("call_function", "call_method") or record.kind not in ADD_NAMES:
            continue
        args = step_args[i][0]
        outside = [p for p, a in enumerate(args) if isinstance(a, fx.Node) and a not in inside]
        if len(outside) == 1 and any(isinstance(a, fx.Node) and a in inside for a in args):
            return i, (outside[0],)
    raise KnockoutPlanError(f"{block} has no residual addition of its input in the stepped graph")


def _dense_concat(knockout: NodeKnockout, records: Sequence[Any],
                  step_args: Sequence[tuple[Any, Any]]) -> tuple[int, tuple[int, ...]]:
    """The dense layer's concatenation of its input groups, and group ``index`` in it."""
    for i in _members(knockout.module, records):
        args = step_args[i][0]
        if records[i].kind == "cat" and args and isinstance(args[0], (list, tuple)):
            groups = len(args[0])
            if knockout.index is None or not 0 <= knockout.index < groups:
                raise KnockoutPlanError(
                    f"{knockout.module} has input groups 0-{groups - 1}, not {knockout.index}")
            return i, (0, knockout.index)
    raise KnockoutPlanError(f"{knockout.module} does not concatenate input groups")


def mark_zeroed(args: tuple, at: Sequence[tuple[int, ...]]) -> tuple:
    """``args`` with a :class:`Zeros` marker at each position of ``at``."""
    for path in at:
        args = _mark(args, path)
    return args


def _mark(value: Any, path: tuple[int, ...]) -> Any:
    if not path:
        if isinstance(value, Zeros):
            return value
        if not isinstance(value, fx.Node):
            raise KnockoutPlanError(f"cannot zero argument {value!r}: it is not a node's value")
        return Zeros(value)
    items = list(value)
    items[path[0]] = _mark(items[path[0]], path[1:])
    return tuple(items) if isinstance(value, tuple) else items


def load_marked(structure: Any, env: dict) -> Any:
    """``structure`` with each node replaced by its value in ``env`` and each
    :class:`Zeros` by new zeros shaped like its node's value."""
    if isinstance(structure, fx.Node):
        return env[structure]
    if isinstance(structure, Zeros):
        return zeros_of(env[structure.node])
    if isinstance(structure, tuple):
        return tuple(load_marked(v, env) for v in structure)
    if isinstance(structure, list):
        return [load_marked(v, env) for v in structure]
    if isinstance(structure, dict):
        return {k: load_marked(v, env) for k, v in structure.items()}
    if isinstance(structure, slice):
        return slice(load_marked(structure.start, env), load_marked(structure.stop, env),
                     load_marked(structure.step, env))
    return structure


def zeros_of(value: Any) -> Any:
    """New zeros shaped like ``value`` (each tensor of a tuple or list); other values as they are."""
    if isinstance(value, torch.Tensor):
        return torch.zeros_like(value)
    if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
        return type(value)(zeros_of(v) for v in value)
    return value


def _zero_channel(channel: int | None) -> Callable[[Any], Any]:
    def zero_channel(value: Any) -> Any:
        if not isinstance(value, torch.Tensor) or value.dim() < 2:
            raise KnockoutPlanError(f"cannot zero channel {channel}: the output has no channels")
        if not 0 <= int(channel) < value.shape[1]:
            raise KnockoutPlanError(f"channel {channel} is outside 0-{value.shape[1] - 1}")
        out = value.clone()  # the module's output may be its input (in place), read elsewhere
        out[:, channel] = 0
        return out

    return zero_channel
