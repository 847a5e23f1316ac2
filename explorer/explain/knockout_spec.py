"""What a knockout is, in words the lab and the menus share (no torch: the graph view
offers knockouts before torch has loaded).

A spec names one channel of a layer's output (``layer1.0.conv1:12``), an Inception branch,
a residual shortcut (``layer2.0:shortcut``), one input group of a dense layer
(``denseblock1.denselayer3:group2``) or an auxiliary head; :func:`parse_knockout` checks it
against the traced graph and the model's modules. The hooks that apply one are in
:mod:`explorer.explain.knockout`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from explorer.errors import UserError
from explorer.explain.layers import LayerError, find_module, module_for_node, output_node
from explorer.graph.model_graph import ModelGraph

if TYPE_CHECKING:  # for annotations only
    from torch import nn

#: The accepted forms, shown when a spec is wrong.
SPEC_FORMS = (
    "LAYER:CHANNEL (a channel, e.g. layer1.0.conv1:12)",
    "BRANCH (an Inception branch, e.g. inception3a.branch2)",
    "BLOCK:shortcut (a residual shortcut, e.g. layer2.0:shortcut)",
    "DENSELAYER:groupN (a dense layer's input group, e.g. denseblock1.denselayer3:group2)",
    "AUXHEAD (an auxiliary classifier, e.g. aux1)",
)

AUX_NOTE = ("auxiliary heads run only in training: at inference nothing changes; switched off "
            "in training, its loss would no longer push gradient into the early layers")


class KnockoutError(UserError):
    """A knockout spec names nothing that can be switched off."""


def _bad(spec: str, why: str) -> KnockoutError:
    return KnockoutError(f"bad knockout {spec!r}: {why}; valid forms: {'; '.join(SPEC_FORMS)}")


@dataclasses.dataclass(frozen=True)
class Knockout:
    """One part switched off.

    Attributes:
        spec: the string it was made from.
        kind: ``channel``, ``branch``, ``shortcut``, ``dense_group`` or ``aux_head``.
        module: path of the module the hook sits on.
        index: the channel or input group (``channel``, ``dense_group``), else None.
        description: in words, for lists and the CLI.
        note: what the knockout means where that is not obvious (aux heads), else "".
        block: for an identity shortcut, the block whose input is subtracted again.
    """

    spec: str
    kind: str
    module: str
    index: int | None
    description: str
    note: str = ""
    block: str | None = None


def _members(graph: ModelGraph, path: str) -> set[str]:
    return set(graph.modules[path].nodes)


def _ancestors_within(graph: ModelGraph, node: str, members: set[str]) -> int:
    seen, stack = set(), [node]
    while stack:
        for p in graph.graph.pred[stack.pop()]:
            if p in members and p not in seen:
                seen.add(p)
                stack.append(p)
    return len(seen)


def _shortcut(spec: str, graph: ModelGraph, model: nn.Module, block: str) -> Knockout:
    members = _members(graph, block)
    adds = [n for n in graph.order if n in members and graph.node(n).get("category") == "add"]
    if not adds:
        raise _bad(spec, f"{block} has no residual addition")
    inputs = list(graph.graph.pred[adds[-1]])
    outside = [n for n in inputs if n not in members]
    if outside:  # identity: the block's input itself is added
        residual = next((n for n in inputs if n in members), None)
        if residual is None:
            raise _bad(spec, f"{block}'s addition has no path inside the block")
        try:
            module, _ = module_for_node(graph, model, residual)
        except LayerError:
            raise _bad(spec, f"no module ends the residual path of {block}") from None
        return Knockout(spec, "shortcut", module, None, f"identity shortcut of {block}", block=block)
    shortcut = min(inputs, key=lambda n: _ancestors_within(graph, n, members))
    try:
        module, _ = module_for_node(graph, model, shortcut)
    except LayerError:
        raise _bad(spec, f"no module ends the shortcut of {block}") from None
    return Knockout(spec, "shortcut", module, None, f"projection shortcut of {block} ({module})")


def knockouts_for(specs: Iterable[str], graph: ModelGraph, model: nn.Module) -> list[Knockout]:
    """Every spec read by :func:`parse_knockout`, in order (a spec given twice counts once):
    what a caller holding spec strings (the session's knockouts) hands to the lab or to
    :meth:`explorer.activations.Stepper.set_knockouts`.

    Raises:
        KnockoutError: the first bad spec, as :func:`parse_knockout` says it.
    """
    return [parse_knockout(spec, graph, model) for spec in dict.fromkeys(specs)]


def parse_knockout(spec: str, graph: ModelGraph, model: nn.Module) -> Knockout:
    """Read one knockout spec (see :data:`SPEC_FORMS`).

    Raises:
        KnockoutError: one line saying what is wrong and listing the valid forms.
    """
    name, _, part = spec.partition(":")
    if not name:
        raise _bad(spec, "no layer named")
    if part:
        if part == "shortcut":
            block = find_module(graph, name)
            if block is None:
                raise _bad(spec, f"no block {name!r}")
            return _shortcut(spec, graph, model, block)
        group = re.fullmatch(r"group(\d+)", part)
        if group:
            return _dense_group(spec, graph, name, int(group.group(1)))
        if not part.isdigit():
            raise _bad(spec, f"{part!r} is not a channel number, 'shortcut' or 'groupN'")
        try:
            module, node = module_for_node(graph, model, name)
        except LayerError as exc:
            raise _bad(spec, str(exc)) from None
        shape = graph.node(node).get("shape")
        channels = shape[1] if isinstance(shape, list) and len(shape) >= 2 else 0
        if not int(part) < channels:
            raise _bad(spec, f"{module} has {channels} channels (0-{channels - 1})")
        return Knockout(spec, "channel", module, int(part), f"channel {part} of {module}")
    path = find_module(graph, name)
    if path is None:
        raise _bad(spec, f"no module {name!r}")
    members = _members(graph, path)
    if all(graph.node(n).get("aux") for n in members):
        return Knockout(spec, "aux_head", path, None, f"auxiliary head {path}", note=AUX_NOTE)
    out = output_node(graph, members)
    if out is not None and any(graph.node(s).get("category") == "concat" for s in graph.graph.succ[out]):
        return Knockout(spec, "branch", path, None, f"branch {path}")
    raise _bad(spec, f"{path} is neither a branch feeding a concatenation nor an auxiliary head")


def _dense_group(spec: str, graph: ModelGraph, name: str, group: int) -> Knockout:
    path = find_module(graph, name)
    if path is None:
        raise _bad(spec, f"no dense layer {name!r}")
    members = _members(graph, path)
    cats = [n for n in graph.order if n in members and graph.node(n).get("category") == "concat"]
    groups = len([p for p in graph.graph.pred[cats[0]] if p not in members]) if cats else 0
    if groups < 2:
        raise _bad(spec, f"{path} does not concatenate input groups")
    if group >= groups:
        raise _bad(spec, f"{path} has input groups 0-{groups - 1}")
    return Knockout(spec, "dense_group", path, group, f"input group {group} of {path}")
