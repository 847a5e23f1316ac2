"""`cnn-explorer unit NAME IMAGE --layer NODE --channel C [--at Y X] [--weights FILE|shipped]
[--top N] [--json]`.

How one unit of one node computes on IMAGE (issue 21): the terms its value is made of
(patch x kernel, BN's statistics, the pooling window, the concatenated input it copies...),
the value recomputed from them, the model's own value and the difference.
"""

from __future__ import annotations

import argparse
import json

from explorer.commands.model_source import add_model_arguments, notices_of, open_model
from explorer.commands.options import int_range

#: The largest coordinate or channel a user can type (no map in the zoo comes near it).
LARGEST_INDEX = 1_000_000


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "unit", help="how one unit computes: its terms, value and the model's own value",
        description="Show how unit (C, Y, X) of node NODE of model NAME computes its value on IMAGE: "
        "the terms it is made of, the value recomputed from them, the model's own value and the "
        "difference. IMAGE is a file, or 'sample' / 'sample:NAME'. In a vector (a fully connected "
        "layer, the output) the channel is the index and --at is left out.",
    )
    add_model_arguments(p)
    p.add_argument("image", metavar="IMAGE", help="image file, or sample[:NAME]")
    p.add_argument("--layer", metavar="NODE", required=True,
                   help="a node's name as the graph shows it (layer1.0 (add)) or a module path")
    p.add_argument("--channel", metavar="C", required=True, type=int_range(0, LARGEST_INDEX),
                   help="the channel (a map) or the index (a vector)")
    p.add_argument("--at", metavar=("Y", "X"), nargs=2, type=int_range(0, LARGEST_INDEX),
                   help="row and column in the map (from 0); default: the channel's strongest unit")
    p.add_argument("--top", metavar="N", type=int_range(1, 1000), default=8,
                   help="terms listed one by one before the rest is summed (default 8)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from explorer.activations.preprocess import preprocess
    from explorer.activations.samples import load_input
    from explorer.explain.units import describe, unit_arithmetic
    from explorer.json_output import finite_json

    model_loaded = open_model(args)
    info, model, trained = model_loaded.info, model_loaded.module, model_loaded.trained
    notices = notices_of(model_loaded)
    loaded = load_input(args.image)
    prepared = preprocess(loaded.image, info)
    notices += list(loaded.notices) + list(prepared.notices)
    if not trained:
        notices.append("untrained weights: random parameters (the arithmetic holds all the same)")
    result = unit_arithmetic(model, prepared.tensor, args.layer, args.channel,
                             tuple(args.at) if args.at else None, top=args.top)
    if args.json:
        payload = {"model": args.name, "image": loaded.source, "trained": trained, "notices": notices,
                   **result.as_dict()}
        print(json.dumps(finite_json(payload), indent=2, allow_nan=False))
        return 0
    print(f"model: {info.title} ({args.name}), {'trained' if trained else 'untrained'} weights; "
          f"image: {loaded.source}")
    for notice in notices:
        print(f"note:  {notice}")
    for line in describe(result):
        print(line)
    return 0
