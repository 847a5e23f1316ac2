"""Everything the window's receptive-field tracer shows about one unit, in one call (no Qt).

``trace_unit`` runs in a worker: it copies the model (the feature-map stepper may be
running the original at the same time, and the effective field hooks a module), traces
its graph for the theoretical field and takes the gradient for the effective one.
``region_in`` is quick (graph arithmetic only) and runs on the GUI thread when the user
steps to an upstream node.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import torch

from explorer.graph.receptive_field import UnitBox, unit_box, upstream_box


@dataclasses.dataclass(frozen=True)
class UnitField:
    """The input region of unit (y, x) of ``node``.

    Attributes:
        node, y, x, channel: the unit (channel None: all channels at that position).
        box: the theoretical field in input pixels (clipped, with its padding).
        size, stride, offset: the node's field size, effective stride and offset (h, w).
        note: the node's ``rf_note`` (known differences from published tables), or None.
        erf: |d unit / d input| at the input's resolution, or None when no module ends at
            the node (then ``erf_note`` says why).
        display: the input as the model sees it (H, W) or (H, W, 3) uint8.
        graph: the traced graph (for :func:`region_in`).
    """

    node: str
    y: int
    x: int
    channel: int | None
    box: UnitBox
    size: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[int, int]
    note: str | None
    erf: np.ndarray | None
    erf_note: str
    display: np.ndarray
    graph: Any

    def summary(self) -> str:
        """One line: the unit, its field, stride, offset and the padding it reaches."""

        def pair(v: tuple[int, int]) -> str:
            return str(v[0]) if v[0] == v[1] else f"{v[0]}×{v[1]}"

        pad = sum(self.box.padding)
        title = self.graph.node(self.node).get("title") or self.node  # the node's shown name
        text = (f"unit ({self.y}, {self.x}) of {title}: field {pair(self.size)} px, stride "
                f"{pair(self.stride)}, offset {pair(self.offset)}"
                + (f"; {pad} px of it in the padding" if pad else ""))
        return text + (f". {self.note}" if self.note else "")


def trace_unit(model: torch.nn.Module, model_name: str, image: Any, node: str, y: int, x: int,
               channel: int | None = None) -> UnitField:
    """The theoretical and effective receptive field of unit (y, x) of ``node``.

    Args:
        model: the network (copied here; the original is not touched).
        model_name: its registry name (input spec and graph name).
        image: the :class:`~explorer.activations.images.LoadedImage` shown.

    Raises:
        UserError: the node has no receptive field, or (y, x) lies outside its map.
    """
    from explorer.activations.preprocess import preprocess, spec_for_model
    from explorer.errors import UserError
    from explorer.explain.attribution import effective_receptive_field
    from explorer.explain.layers import LayerError, module_for_node
    from explorer.graph.trace import build_graph

    model = copy.deepcopy(model).eval()
    prepared = preprocess(image.image, spec_for_model(model, model_name))
    tensor = prepared.tensor
    graph = build_graph(model, tuple(tensor.shape), name=model_name)
    found = graph.find_node(node)
    if found is None:
        raise UserError(f"node {node} is not in the traced graph of {model_name}")
    node = found
    attrs = graph.node(node)
    title = attrs.get("title") or node
    if attrs.get("receptive_field") is None:
        raise UserError(f"{title} has no receptive field (no spatial input reaches it)")
    shape = attrs.get("shape") or []
    if len(shape) == 4 and not (0 <= y < shape[2] and 0 <= x < shape[3]):
        raise UserError(f"unit ({y}, {x}) is outside {title}'s {shape[2]}×{shape[3]} map")
    height, width = int(tensor.shape[2]), int(tensor.shape[3])
    box = unit_box(attrs, y, x, (height, width))
    erf = None
    erf_note = ""
    try:
        path, _ = module_for_node(graph, model, node)
        erf = effective_receptive_field(model, tensor, path, y, x, channel)
    except LayerError as exc:
        erf_note = f"no effective field here: {exc}"
    return UnitField(node, y, x, channel, box, tuple(attrs["receptive_field"]),
                     tuple(attrs["effective_stride"]), tuple(attrs["rf_offset"]), attrs.get("rf_note"),
                     erf, erf_note, np.asarray(prepared.display), graph)


def region_in(field: UnitField, upstream: str) -> UnitBox | None:
    """The part of ``upstream``'s map that the traced unit sees; None when ``upstream``
    does not feed the traced node or has no spatial map."""
    graph = field.graph
    if upstream == field.node or upstream not in graph.graph:
        return None
    try:
        return upstream_box(graph.graph, graph.order, field.node, field.y, field.x, upstream)
    except ValueError:
        return None
