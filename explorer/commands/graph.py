"""``cnn-explorer graph NAME [--expand all|blocks] [--out FILE.svg|.png|.json]``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from explorer.commands.model_source import add_model_arguments, model_source
from explorer.commands.options import float_range
from explorer.errors import UserError

SUFFIXES = (".svg", ".png", ".json")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "graph",
        help="draw a model's architecture graph to SVG, PNG or JSON",
        description="Trace a model and write its graph: blocks closed (default) or every layer.",
    )
    add_model_arguments(p, weights=False)
    p.add_argument("--expand", choices=("blocks", "all"), default="blocks",
                   help="blocks: meaningful blocks closed (default); all: every layer")
    p.add_argument("--no-fold", action="store_true", help="do not fold runs of identical blocks")
    p.add_argument("--out", help="output file: .svg, .png or .json (default: print a summary)")
    p.add_argument("--theme", choices=("light", "dark"), default="light", help="colours for SVG/PNG")
    p.add_argument("--scale", type=float_range(0.1, 16), default=1.0,
                   help="PNG pixels per scene pixel, 0.1-16 (default 1)")
    p.add_argument("--direction", choices=("TB", "LR"), default="TB",
                   help="TB: top to bottom (default); LR: left to right")
    p.add_argument("--kwargs-json", default="{}", help="builder keyword arguments as a JSON object")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    # ``draw`` writes an SVG or PNG: the window's scene renderer (Qt), which sits above the
    # commands, so the entry layer hands it in (``explorer.cli.INJECTED``). JSON needs none.
    p.set_defaults(run=run, draw=None)


def run(args: argparse.Namespace) -> int:
    from explorer.graph import build_named_graph, default_state, expanded_state, prepare_view

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in SUFFIXES:
        raise UserError(f"--out {out.name}: use a .svg, .png or .json file name")
    if out is not None and not out.parent.exists():
        raise UserError(f"--out: folder {out.parent} does not exist")
    if out is not None and out.suffix.lower() != ".json" and args.draw is None:
        raise UserError(f"--out {out.name}: no renderer for SVG or PNG here; run `cnn-explorer graph`")
    if out is not None:
        from explorer.exports import check_export_path

        out = check_export_path(out)  # before tracing: not into the app's folders, a name that fits
    try:
        kwargs = json.loads(args.kwargs_json)
    except ValueError:
        raise UserError("--kwargs-json is not valid JSON") from None
    if not isinstance(kwargs, dict):
        raise UserError("--kwargs-json must be a JSON object")
    graph = build_named_graph(model_source(args), kwargs)
    if graph.warning:
        print(f"warning: {graph.warning}", file=sys.stderr)
    state = expanded_state(graph) if args.expand == "all" else default_state(graph, fold=not args.no_fold)
    state = dataclasses.replace(state, direction=args.direction)
    view, layout = prepare_view(graph, state)
    if out is not None:
        _export(graph, view, layout, out, args)
    summary = {
        "name": graph.name,
        "nodes": len(graph.order),
        "drawn": len(view.order),
        "edges": view.graph.number_of_edges(),
        "blocks": len(graph.blocks()),
        "params": graph.total_params,
        "flops": graph.total_flops,
        "aux_flops": graph.aux_flops,
        "traced": graph.traced,
        "out": str(out) if out else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{graph.name}: {summary['nodes']} nodes, {summary['blocks']} blocks, "
              f"{summary['drawn']} drawn, {graph.total_params:,} parameters, "
              f"{graph.total_flops / 1e9:.2f} GFLOPs"
              + (f" (+{graph.aux_flops / 1e9:.3f} GFLOPs in the training-only auxiliary heads)"
                 if graph.aux_flops else "")
              + (f" -> {out}" if out else ""))
    return 0


def _export(graph, view, layout, out: Path, args: argparse.Namespace) -> None:
    if out.suffix.lower() == ".json":  # data only: no Qt needed
        from explorer.graph.export import view_document, write_json

        write_json(view_document(graph, view, layout), out)
        return
    # The window's Export… goes through the same renderer: the two files are the same.
    args.draw(graph, view, layout, out, theme=args.theme, scale=args.scale)
