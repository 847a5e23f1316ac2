"""The knockout lab: switch parts of a network off and see what it costs.

A knockout zeroes one channel of a layer's output, an Inception branch, a residual
shortcut, one input group of a dense layer, or an auxiliary head. Each is a forward hook
(or pre-hook) that exists only while :meth:`KnockoutLab.applied` is active: parameters and
module attributes are never changed, so the model and any weights saved from it stay
intact, and undoing a knockout is dropping it from the list.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterator

import torch
from torch import nn

from explorer.errors import UserError
from explorer.explain.layers import LayerError, find_module, module_for_node, output_node
from explorer.graph.model_graph import ModelGraph

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


def _in_place(out: torch.Tensor, inputs: tuple) -> bool:
    """Whether a hook may overwrite ``out``: no autograd, and not a view of an input (an
    Identity or in-place op hands its input on, which other paths still read)."""
    if torch.is_grad_enabled():
        return False
    storage = out.untyped_storage().data_ptr()
    return all(not isinstance(i, torch.Tensor) or i.untyped_storage().data_ptr() != storage
               for i in inputs)


def _hooks(knockout: Knockout, model: nn.Module) -> list[torch.utils.hooks.RemovableHandle]:
    # Without autograd (evaluation) the hooks write into the module's fresh output instead
    # of allocating another tensor: on a small form at batch 256 an extra full-size
    # elementwise pass costs as much as a thin convolution.
    module = model.get_submodule(knockout.module)
    if knockout.kind == "channel":
        c = knockout.index

        def zero_channel(_m, inputs, out):
            if not _in_place(out, inputs):
                mask = torch.ones(out.shape[1], device=out.device, dtype=out.dtype)
                mask[c] = 0
                return out * mask.view(1, -1, *([1] * (out.dim() - 2)))
            out[:, c] = 0
            return out

        return [module.register_forward_hook(zero_channel)]
    if knockout.kind == "dense_group":
        g = knockout.index

        def zero_group(_m, args):
            groups = list(args[0])
            groups[g] = torch.zeros_like(groups[g])
            return (groups, *args[1:])

        return [module.register_forward_pre_hook(zero_group)]
    if knockout.kind == "shortcut" and knockout.block is not None:
        # out + x becomes (out - x) + x: the block adds back only its own path.
        seen: dict[str, torch.Tensor] = {}
        block = model.get_submodule(knockout.block)

        def subtract_input(_m, inputs, out):
            return out.sub_(seen["x"]) if _in_place(out, inputs + (seen["x"],)) else out - seen["x"]

        return [
            block.register_forward_pre_hook(lambda _m, args: seen.__setitem__("x", args[0])),
            module.register_forward_hook(subtract_input),
        ]

    # branch, projection shortcut, aux head: the module's output becomes zeros
    def zero(_m, inputs, out):
        return out.zero_() if _in_place(out, inputs) else torch.zeros_like(out)

    return [module.register_forward_hook(zero)]


class KnockoutLab:
    """A list of knockouts on one model, applied only inside :meth:`applied`.

    Args:
        model: the network (kept in eval mode; never modified).
        graph: its traced graph, to read specs against.
    """

    def __init__(self, model: nn.Module, graph: ModelGraph) -> None:
        self.model = model
        self.graph = graph
        self.knockouts: list[Knockout] = []

    def add(self, spec: str) -> Knockout:
        """Parse and append a knockout (see :data:`SPEC_FORMS`)."""
        knockout = parse_knockout(spec, self.graph, self.model)
        self.knockouts.append(knockout)
        return knockout

    def undo(self) -> Knockout | None:
        """Drop the latest knockout; None if there was none."""
        return self.knockouts.pop() if self.knockouts else None

    def remove(self, spec: str) -> None:
        self.knockouts = [k for k in self.knockouts if k.spec != spec]

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        handles = [h for k in self.knockouts for h in _hooks(k, self.model)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def logits(self, x: torch.Tensor, *, knocked_out: bool = True) -> torch.Tensor:
        self.model.eval()
        context = self.applied() if knocked_out else contextlib.nullcontext()
        with context, torch.inference_mode():
            return self.model(x)

    def accuracy(self, batches: Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]], *,
                 knocked_out: bool = True) -> float:
        """Share of correct top-1 predictions over ``batches()`` (x, labels) pairs."""
        correct = total = 0
        self.model.eval()
        context = self.applied() if knocked_out else contextlib.nullcontext()
        with context, torch.inference_mode():
            for x, labels in batches():
                correct += int((self.model(x).argmax(1) == labels).sum())
                total += len(labels)
        return correct / max(total, 1)
