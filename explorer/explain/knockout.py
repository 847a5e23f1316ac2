"""The knockout lab: switch parts of a network off and see what it costs.

A knockout zeroes one channel of a layer's output, an Inception branch, a residual
shortcut, one input group of a dense layer, or an auxiliary head. Each is a forward hook
(or pre-hook) that exists only while :meth:`KnockoutLab.applied` is active: parameters and
module attributes are never changed, so the model and any weights saved from it stay
intact, and undoing a knockout is dropping it from the list. What a knockout is and how a
spec is read are in :mod:`explorer.explain.knockout_spec`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from explorer.explain.knockout_spec import AUX_NOTE, SPEC_FORMS, Knockout, KnockoutError, knockouts_for, parse_knockout  # noqa: F401  (the lab's public names)
from explorer.graph.model_graph import ModelGraph


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
