"""`cnn-explorer rf NAME --layer NODE [--pixel Y X] [--json]`.

The theoretical receptive field of a node (size, stride, offset; Araujo et al. 2019) and,
for one unit of its map, the input box it sees. Only the graph is traced: no weights, no
forward pass.
"""

from __future__ import annotations

import argparse
import json
import sys

from explorer.commands.model_source import add_model_arguments, model_source
from explorer.commands.options import int_range
from explorer.errors import UserError
from explorer.graph.stored import named_graph


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "rf", help="receptive field of a node: size, stride, offset (and one unit's box)",
        description="Print the theoretical receptive field of node NODE of model NAME, in "
        "input pixels: size, effective stride and offset (the input coordinate where unit "
        "(0, 0)'s field starts; negative values are padding). With --pixel, the box unit "
        "(Y, X) of the node's map sees, clipped to the image.",
    )
    add_model_arguments(p, weights=False)
    p.add_argument("--layer", metavar="NODE", required=True,
                   help="a node's name as the graph shows it (layer2.0 (add)) or a module path")
    p.add_argument("--pixel", metavar=("Y", "X"), nargs=2, type=int_range(0, 1_000_000),
                   help="a unit of the node's map (row and column from 0)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=run)


def field_of(graph, layer: str, pixel: tuple[int, int] | None) -> dict:
    """The ``rf`` command's answer for ``layer`` of ``graph`` (JSON-able).

    Raises:
        UserError: unknown layer, a node without a field, a pixel outside the map.
    """
    from explorer.explain.layers import find_module, output_node
    from explorer.graph.receptive_field import unit_box

    node = graph.find_node(layer)  # a node's name as every view shows it (graph/titles.py)
    if node is None:
        path = find_module(graph, layer)
        node = output_node(graph, graph.modules[path].nodes) if path is not None else None
        if node is None:
            raise UserError(f"unknown layer {layer!r} in {graph.name}: give a node's name or a module path")
    attrs = graph.node(node)
    title = attrs.get("title") or node
    if attrs.get("receptive_field") is None:
        raise UserError(f"node {title} has no receptive field (no spatial input reaches it)")
    size = [int(d) for d in graph.input_shape[2:4]]
    shape = attrs.get("shape") or []
    payload = {
        "model": graph.name,
        "node": title,
        "module_path": attrs.get("module_path", ""),
        "shape": shape,
        "input_size": size,
        "size": attrs["receptive_field"],
        "stride": attrs["effective_stride"],
        "offset": attrs["rf_offset"],
        "padding": [-o for o in attrs["rf_offset"]],
        "note": attrs.get("rf_note"),
        "unit": None,
    }
    if pixel is not None:
        map_size = shape[2:4] if len(shape) == 4 else [1, 1]
        y, x = pixel
        if not (0 <= y < map_size[0] and 0 <= x < map_size[1]):
            raise UserError(f"pixel ({y}, {x}) is outside {title}'s {map_size[0]}x{map_size[1]} map")
        payload["unit"] = {"pixel": [y, x], **unit_box(attrs, y, x, tuple(size)).as_dict()}
    return payload


def run(args: argparse.Namespace) -> int:
    graph, notice = named_graph(model_source(args))
    if notice:
        print(f"note: {notice}", file=sys.stderr)
    payload = field_of(graph, args.layer, tuple(args.pixel) if args.pixel else None)
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0

    def pair(v):
        return f"{v[0]}" if v[0] == v[1] else f"{v[0]}x{v[1]}"

    print(f"{args.name} {payload['node']}")
    print(f"  size {pair(payload['size'])} px, stride {pair(payload['stride'])} px, "
          f"offset {pair(payload['offset'])} px (padding {pair(payload['padding'])})")
    unit = payload["unit"]
    if unit is not None:
        top, left, bottom, right = unit["box"]
        print(f"  unit {tuple(unit['pixel'])}: rows {top}..{bottom}, columns {left}..{right}")
        if unit["clipped"] is None:
            print("  the box lies wholly in the padding")
        else:
            ct, cl, cb, cr = unit["clipped"]
            print(f"  inside the {payload['input_size'][0]}x{payload['input_size'][1]} image: "
                  f"rows {ct}..{cb}, columns {cl}..{cr}; padding top/left/bottom/right "
                  f"{'/'.join(str(p) for p in unit['padding'])}")
    if payload["note"]:
        print(f"  note: {payload['note']}")
    return 0
