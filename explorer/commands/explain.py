"""`cnn-explorer explain MODEL IMAGE [--weights FILE|shipped] [--method gradcam|saliency|occlusion]
[--layer NODE] [--target CLASS] [--out OVERLAY.png] [--json]`.

One class-evidence map (Captum) for one image: its shape and statistics, the predicted
class, what the map is and its caveat, and optionally the map drawn over the image.
"""

from __future__ import annotations

import argparse
import json

from explorer.commands.model_source import add_model_arguments, notices_of, open_model
from explorer.commands.options import float_range, int_range
from explorer.errors import UserError

#: Overlays of small inputs are enlarged to about this many pixels so they can be seen.
OVERLAY_SIDE = 448


def add_parser(subparsers) -> None:
    from explorer.explain.attribution import METHODS

    p = subparsers.add_parser(
        "explain", help="Grad-CAM, saliency or occlusion map of an image",
        description="Explain model NAME's decision on IMAGE with one map: Grad-CAM at a conv "
        "node, gradient saliency or occlusion (computed by Captum). Prints the predicted "
        "class, the class explained, the map's statistics and what the map means; --out "
        "writes the map over the image. IMAGE is a file, or 'sample' / 'sample:NAME'.",
    )
    add_model_arguments(p)
    p.add_argument("image", metavar="IMAGE", help="image file, or sample[:NAME]")
    p.add_argument("--method", choices=METHODS, default="gradcam")
    p.add_argument("--layer", metavar="NODE",
                   help="Grad-CAM's module path or node name as the graph shows it; default: "
                   "the last conv feature map")
    p.add_argument("--target", metavar="CLASS", type=int_range(0, 99_999),
                   help="class index to explain; default: the predicted class")
    p.add_argument("--out", metavar="OVERLAY.png", help="write the map over the image here")
    p.add_argument("--opacity", type=float_range(0, 1), default=0.5, help="map opacity in the overlay (0-1)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=run)


def write_overlay(display, values, path: str, opacity: float) -> list[int]:
    """Write the map over the shown image as a PNG; returns its [height, width]."""
    import numpy as np
    from PIL import Image

    from explorer.explain.attribution import overlay

    rgba = overlay(np.asarray(display), values, opacity=opacity)
    factor = max(1, OVERLAY_SIDE // max(rgba.shape[:2]))
    if factor > 1:
        rgba = np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1)
    from explorer.exports import write_image_export

    write_image_export(Image.fromarray(rgba, "RGBA"), path)  # atomic; never into the app's folders
    return [int(rgba.shape[0]), int(rgba.shape[1])]


def run(args: argparse.Namespace) -> int:
    import torch

    from explorer.activations.predictions import top_k
    from explorer.activations.preprocess import preprocess
    from explorer.explain.attribution import attribute
    from explorer.graph import build_graph

    if not 0.0 <= args.opacity <= 1.0:
        raise UserError(f"--opacity must be between 0 and 1, got {args.opacity}")
    model_loaded = open_model(args)
    info, model, trained = model_loaded.info, model_loaded.module, model_loaded.trained
    notices = notices_of(model_loaded)
    from explorer.activations.samples import load_input

    loaded = load_input(args.image)
    prepared = preprocess(loaded.image, info)
    notices += list(loaded.notices) + prepared.notices
    graph = build_graph(model, info.input_shape, name=args.name)
    names = model_loaded.class_names
    result = attribute(model, prepared.tensor, args.method, graph=graph, target=args.target,
                       layer=args.layer, class_names=names)
    with torch.no_grad():
        predictions = top_k(model(prepared.tensor), trained=trained, names=names)
    overlay_size = write_overlay(prepared.display, result.values, args.out, args.opacity) if args.out else None
    payload = {
        "model": args.name,
        "image": loaded.source,
        "trained": trained,
        "notices": notices + ([predictions.note] if predictions.note else []),
        "method": result.method,
        "caption": result.caption,
        "layer": result.layer,
        "node": graph.node(result.node).get("title") if result.node else None,  # its shown name
        "predicted": {"index": result.predicted, "name": names[result.predicted],
                      "probability": predictions.top[0].probability},
        "target": {"index": result.target, "name": names[result.target]},
        "top5": predictions.as_dicts(),
        "map": result.stats(),
        "overlay": None if args.out is None else {"path": str(args.out), "size": overlay_size,
                                                  "opacity": args.opacity},
    }
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(f"model:     {info.title} ({args.name}), {'trained' if trained else 'untrained'} weights")
    for notice in payload["notices"]:
        print(f"note:      {notice}")
    p = payload["predicted"]
    print(f"predicted: {p['index']} {p['name']} ({p['probability'] * 100:.1f}%)")
    print(f"explained: {result.target} {names[result.target]}")
    print(f"map:       {result.caption}")
    s = payload["map"]
    print(f"  {s['shape'][0]}x{s['shape'][1]} (from {s['raw_shape'][0]}x{s['raw_shape'][1]}), "
          f"min {s['min']:.4g} max {s['max']:.4g} mean {s['mean']:.4g}")
    if overlay_size:
        print(f"overlay:   {args.out} ({overlay_size[1]}x{overlay_size[0]})")
    return 0
