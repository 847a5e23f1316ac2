"""Theoretical receptive fields on the traced graph: size, stride and offset of every node.

The multi-path algorithm of Araujo, Norris and Sim ("Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019). Along one path, a layer with kernel k,
stride s, padding p and dilation d maps the field (r, S, P) of its input, in input pixels,
to

    r' = r + d (k - 1) S        S' = S s        P' = P + p S

and unit u of the node sees input pixels [u S' - P', u S' - P' + r' - 1]. Where paths meet
(an addition, a concatenation, any op with several tensor inputs) the unit sees the union
of what each path sees. Paths with the same stride merge exactly into one (r, S, P): the
union of [u S - P_i, u S - P_i + r_i - 1] is [u S - max P, u S + max(r_i - P_i) - 1]. Paths
with different strides cannot be aligned for every unit; they are kept side by side
(``rf_paths``) and the box of a unit is the union over them.

Per node this sets ``receptive_field`` [h, w] (the size of unit (0, 0)'s box),
``effective_stride`` [h, w], ``rf_offset`` [h, w] (input coordinate of the top-left corner
of unit (0, 0)'s box: minus the effective padding), ``rf_paths`` where strides differ, and
``rf_note`` where the numbers need a word (uneven adaptive pooling, upsampling, which gets
stride 0, several strides, or a known difference from google-research's table).

A feature map is (N, C, H, W) unless a permute or transpose moved H and W (ConvNeXt and
Swin run their LayerNorms and MLPs channels-last, (N, H, W, C)): the spatial axes are
followed through those, and convolutions and pools read (N, C, H, W). A map broadcast over
H and W (a squeeze-and-excitation's 1x1 gate times the features) gives every unit what its
one cell sees: stride 0, as upsampling does.

No forward pass: only the node attributes :func:`explorer.graph.build_graph` records
(category, hyperparameters, shapes). It belongs to the graph: tracing runs it for every
node (:mod:`~explorer.graph.trace`), and the explainers above read its boxes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import networkx as nx

# One spatial dimension of a node's field: stride -> (padding, size). Usually one entry.
_Dim = dict[int, tuple[int, int]]
_Field = tuple[_Dim, _Dim]

_WINDOWED = ("conv", "depthwise", "pool")
# Where H and W are in a 4-d feature map: (N, C, H, W) unless a permute moved them.
_NCHW = (2, 3)

# Where our builds differ from google-research's table (github.com/google-research/
# receptive_field, README) for a stated reason. Keyed by registry name.
_RESNET_NOTE = (
    "torchvision's ResNet strides in the first block of each stage (the 3x3 conv); "
    "google-research's table uses TF-slim's resnet_v1, which strides in the last block, so "
    "its fields are larger (ResNet-50 final block: 483 px there, 427 px here)"
)
MODEL_NOTES: dict[str, str] = {
    "resnet50": _RESNET_NOTE,
    "resnet101": _RESNET_NOTE,
    "resnet152": _RESNET_NOTE,
    "mobilenet_v1": (
        "sizes match google-research's table (315 px at the last conv); TensorFlow's SAME "
        "padding pads strided layers more at the bottom and right, ours pads evenly, so "
        "the box's offset (effective padding) differs from the table's"
    ),
}


@dataclasses.dataclass(frozen=True)
class UnitBox:
    """The input region one unit of a node sees.

    Attributes:
        top, left, bottom, right: the theoretical field, inclusive, in input pixels; may
            reach outside the image (that part is padding).
        clipped: (top, left, bottom, right) inside the image, or None if the box misses it.
        padding: (top, left, bottom, right) pixels of the box that lie in the padding.
    """

    top: int
    left: int
    bottom: int
    right: int
    clipped: tuple[int, int, int, int] | None
    padding: tuple[int, int, int, int]

    @property
    def size(self) -> tuple[int, int]:
        return self.bottom - self.top + 1, self.right - self.left + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "box": [self.top, self.left, self.bottom, self.right],
            "size": list(self.size),
            "clipped": None if self.clipped is None else list(self.clipped),
            "padding": list(self.padding),
        }


def _merge_into(out: _Dim, stride: int, pad: int, size: int) -> None:
    if stride not in out:
        out[stride] = (pad, size)
        return
    p0, r0 = out[stride]
    pad_max = max(p0, pad)
    out[stride] = (pad_max, max(r0 - p0, size - pad) + pad_max)


def _through_window(dim: _Dim, k: int, s: int, p: int, d: int = 1) -> _Dim:
    out: _Dim = {}
    for stride, (pad, size) in dim.items():
        _merge_into(out, stride * s, pad + p * stride, size + d * (k - 1) * stride)
    return out


def _union(fields: list[_Field]) -> _Field:
    out: _Field = ({}, {})
    for field in fields:
        for i in (0, 1):
            for stride, (pad, size) in field[i].items():
                _merge_into(out[i], stride, pad, size)
    return out


def _padding(hp: dict[str, Any], k: list[int], s: list[int], d: list[int],
             size_in: tuple[int, int], size_out: tuple[int, int]) -> list[int]:
    pad = hp.get("padding")
    if pad == "same":
        return [d[i] * (k[i] - 1) // 2 for i in (0, 1)]
    if pad == "valid":
        return [0, 0]
    if isinstance(pad, list) and len(pad) >= 2:
        return [int(pad[0]), int(pad[1])]
    # A custom layer that names its kernel but not its padding: the smallest padding that
    # gives the traced output size.
    return [max(0, ((size_out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - size_in[i] + 1) // 2)
            for i in (0, 1)]


def _permutation(attrs: dict[str, Any]) -> list[int] | None:
    """The axis order a 4-d permute or transpose node produces (None for any other node)."""
    layer_type, hp = attrs.get("layer_type"), attrs.get("hparams") or {}
    dims = hp.get("dims")
    if not (isinstance(dims, list) and all(isinstance(d, int) for d in dims)):
        return None
    if layer_type == "permute" and len(dims) == 4 and sorted(d % 4 for d in dims) == [0, 1, 2, 3]:
        return [d % 4 for d in dims]
    if layer_type in ("transpose", "swapaxes") and len(dims) == 2:
        order = [0, 1, 2, 3]
        a, b = dims[0] % 4, dims[1] % 4
        order[a], order[b] = order[b], order[a]
        return order
    return None


def _output_axes(attrs: dict[str, Any], in_shape: Any, in_axes: tuple[int, int]) -> tuple[int, int]:
    """Where H and W are in a node's output: moved by a permute, else where its input had them."""
    if attrs.get("category") in _WINDOWED or not (isinstance(in_shape, list) and len(in_shape) == 4):
        return _NCHW
    order = _permutation(attrs)
    if order is None:
        return in_axes
    return order.index(in_axes[0]), order.index(in_axes[1])


def _broadcast(field: _Field, shape: Any, axes: tuple[int, int], out_shape: list[int],
               out_axes: tuple[int, int]) -> _Field:
    """An input's field as the output sees it: a dimension of size 1 that broadcasts over
    the output's (an SE gate) is seen whole by every unit (stride 0)."""
    if not (isinstance(shape, list) and len(shape) == 4):
        return field
    dims = [_through_window(field[i], 1, 0, 0) if shape[axes[i]] == 1 < out_shape[out_axes[i]] else field[i]
            for i in (0, 1)]
    return dims[0], dims[1]


def _node_field(attrs: dict[str, Any], inputs: list[tuple[_Field, Any, tuple[int, int]]],
                ) -> tuple[_Field, str, tuple[int, int]]:
    """The field of one node from its inputs' (field, shape, spatial axes), a note (or "")
    and where H and W are in the node's output."""
    in_shape, shape = inputs[0][1], attrs.get("shape")
    hp = attrs.get("hparams") or {}
    windowed = attrs.get("category") in _WINDOWED and hp.get("kernel_size")
    in_axes = _NCHW if windowed else inputs[0][2]
    axes = _output_axes(attrs, in_shape, in_axes)
    if len(inputs) == 1:
        field = inputs[0][0]
    elif isinstance(shape, list) and len(shape) == 4:
        field = _union([_broadcast(f, s, a, shape, axes) for f, s, a in inputs])
    else:
        field = _union([f for f, _, _ in inputs])
    if not (isinstance(in_shape, list) and len(in_shape) == 4 and isinstance(shape, list)):
        return field, "", axes
    size_in = (in_shape[in_axes[0]], in_shape[in_axes[1]])
    if windowed:
        k = hp["kernel_size"]
        s = hp.get("stride") or k
        d = hp.get("dilation") or [1, 1]
        size_out = (shape[2], shape[3]) if len(shape) == 4 else size_in
        p = _padding(hp, k, s, d, size_in, size_out)
        return (_through_window(field[0], k[0], s[0], p[0], d[0]),
                _through_window(field[1], k[1], s[1], p[1], d[1])), "", axes
    if len(shape) < 4:
        # flatten, a mean over H and W, a view: every output sees the whole map
        return (_through_window(field[0], size_in[0], size_in[0], 0),
                _through_window(field[1], size_in[1], size_in[1], 0)), "", axes
    size_out = (shape[axes[0]], shape[axes[1]])
    if size_out == size_in or len(inputs) != 1:
        return field, "", axes
    if "pad" in str(attrs.get("layer_type", "")).lower():
        # F.pad, ZeroPad2d...: a 1x1 window with padding; the amount is read off the
        # shapes (split evenly: the trace keeps no arguments of function calls)
        return (_through_window(field[0], 1, 1, max(0, size_out[0] - size_in[0]) // 2),
                _through_window(field[1], 1, 1, max(0, size_out[1] - size_in[1]) // 2)), "", axes
    if any(size_out[i] > size_in[i] for i in (0, 1)):
        # Upsampling (an adaptive pool asked for more cells than it gets): no integer
        # stride describes it, so every unit is given the field of the whole input map
        # (stride 0), which covers what any one of them sees.
        return (_through_window(field[0], size_in[0], 0, 0),
                _through_window(field[1], size_in[1], 0, 0)), \
            "the map grows here (upsampling): each unit is shown with the whole input map's field", axes
    # A window without stated kernel (adaptive pooling): equal windows where the sizes
    # divide, else torch's windows differ by a pixel and this is the typical one.
    out = []
    uneven = False
    for i in (0, 1):
        s = max(1, size_in[i] // size_out[i])
        k = size_in[i] - (size_out[i] - 1) * s
        uneven |= size_in[i] % size_out[i] != 0
        out.append(_through_window(field[i], k, s, 0))
    note = "adaptive pooling with uneven windows: sizes vary by a pixel or two" if uneven else ""
    return (out[0], out[1]), note, axes


def _summary(dim: _Dim) -> tuple[int, int, int]:
    """(size, stride, offset) of unit 0: the union box over paths, the largest stride."""
    if len(dim) == 1:  # one path, as at almost every node: its own box
        ((stride, (pad, size)),) = dim.items()
        return size, stride, -pad
    start = min(-pad for pad, _ in dim.values())
    end = max(-pad + size - 1 for pad, size in dim.values())
    return end - start + 1, max(dim), start


def receptive_fields(graph: nx.DiGraph, order: list[str], model_name: str = "") -> None:
    """Set ``receptive_field``, ``effective_stride``, ``rf_offset`` (and ``rf_paths``,
    ``rf_note`` where they apply) on every node of ``graph``, in place.

    Args:
        graph: a node graph from the tracer (per-node ``category``, ``hparams``, ``shape``).
        order: node ids in execution order.
        model_name: registry name, for the notes on known differences from published tables.
    """
    nodes = dict(graph.nodes.items())  # plain dict lookups: this runs for every node
    pred = graph.pred
    fields: dict[str, _Field] = {}
    axes: dict[str, tuple[int, int]] = {}
    model_note = MODEL_NOTES.get(model_name, "")
    for node_id in order:
        a = nodes[node_id]
        shape = a.get("shape")
        note = ""
        if a["category"] == "input":
            field = ({1: (0, 1)}, {1: (0, 1)}) if shape else None
        else:
            inputs = [(fields[p], nodes[p].get("shape"), axes[p]) for p in pred[node_id] if p in fields]
            if inputs:
                field, note, axes[node_id] = _node_field(a, inputs)
            else:
                field = None
        axes.setdefault(node_id, _NCHW)
        for key in ("rf_paths", "rf_note"):
            a.pop(key, None)
        if field is None or shape is None:
            a["receptive_field"] = a["effective_stride"] = a["rf_offset"] = None
            if field is not None:
                fields[node_id] = field  # tuples (split outputs) pass the field on
            continue
        fields[node_id] = field
        (rh, sh, oh), (rw, sw, ow) = _summary(field[0]), _summary(field[1])
        a["receptive_field"], a["effective_stride"], a["rf_offset"] = [rh, rw], [sh, sw], [oh, ow]
        if len(field[0]) > 1 or len(field[1]) > 1:
            a["rf_paths"] = [sorted([s, p, r] for s, (p, r) in field[i].items()) for i in (0, 1)]
            note = note or "paths with different strides meet here: the box differs from unit to unit"
        text = "; ".join(t for t in (note, model_note) if t)
        if text:
            a["rf_note"] = text


def _dim_paths(attrs: dict[str, Any], i: int) -> list[tuple[int, int, int]]:
    paths = attrs.get("rf_paths")
    if paths:
        return [tuple(t) for t in paths[i]]
    return [(attrs["effective_stride"][i], -attrs["rf_offset"][i], attrs["receptive_field"][i])]


def _box(paths: tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]], y: int, x: int,
         size: tuple[int, int]) -> UnitBox:
    """The box of unit (y, x) over (stride, padding, size) paths per dimension, clipped to ``size``."""
    bounds = []
    for i, u in ((0, y), (1, x)):
        start = min(u * s - p for s, p, _ in paths[i])
        end = max(u * s - p + r - 1 for s, p, r in paths[i])
        bounds.append((start, end))
    (top, bottom), (left, right) = bounds
    height, width = size
    clipped = (max(top, 0), max(left, 0), min(bottom, height - 1), min(right, width - 1))
    inside = clipped[0] <= clipped[2] and clipped[1] <= clipped[3]
    padding = (max(0, -top), max(0, -left), max(0, bottom - height + 1), max(0, right - width + 1))
    return UnitBox(top, left, bottom, right, clipped if inside else None, padding)


def unit_box(attrs: dict[str, Any], y: int, x: int, image_size: tuple[int, int]) -> UnitBox:
    """The input box seen by unit (y, x) of a node, from its graph attributes.

    Args:
        attrs: the node's attributes after :func:`receptive_fields`.
        y, x: the unit's position in the node's feature map.
        image_size: (height, width) of the input, to clip the box and measure the padding.

    Raises:
        ValueError: the node has no receptive field (no spatial input reaches it).
    """
    if attrs.get("receptive_field") is None:
        raise ValueError(f"node {attrs.get('id', '?')} has no receptive field")
    return _box((_dim_paths(attrs, 0), _dim_paths(attrs, 1)), y, x, image_size)


def upstream_box(graph: nx.DiGraph, order: list[str], node: str, y: int, x: int,
                 upstream: str) -> UnitBox:
    """The region of ``upstream``'s feature map that unit (y, x) of ``node`` sees: the same
    algorithm with ``upstream`` as the input (paths that bypass it do not count).

    Raises:
        ValueError: ``upstream`` does not feed ``node`` or has no spatial map.
    """
    shape = graph.nodes[upstream].get("shape")
    if not (isinstance(shape, list) and len(shape) == 4):
        raise ValueError(f"{upstream} has no spatial feature map")
    between = nx.descendants(graph, upstream) & (nx.ancestors(graph, node) | {node})
    if node not in between:
        raise ValueError(f"{upstream} does not feed {node}")
    fields: dict[str, _Field] = {upstream: ({1: (0, 1)}, {1: (0, 1)})}
    axes: dict[str, tuple[int, int]] = {upstream: _NCHW}
    for n in order:
        if n in between:
            inputs = [(fields[p], graph.nodes[p].get("shape"), axes[p]) for p in graph.pred[n] if p in fields]
            fields[n], _, axes[n] = _node_field(graph.nodes[n], inputs)
    dims = fields[node]
    paths = tuple(sorted((s, p, r) for s, (p, r) in dims[i].items()) for i in (0, 1))
    return _box(paths, y, x, (shape[2], shape[3]))
