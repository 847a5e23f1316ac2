"""`cnn-explorer inspect MODEL IMAGE [--weights FILE|shipped] [--layer MODULE_PATH] [--out MAPS.png] [--json]`.

Runs one image through a model (the zoo's, torchvision's or one of the user's), prints the top-5 and the statistics of one
layer's output, and writes that layer's feature maps as a mosaic PNG (no Qt needed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from explorer.activations.colormaps import COLORMAPS
from explorer.commands.model_source import add_model_arguments, notices_of, open_model
from explorer.errors import UserError

#: Gaps between tiles in the PNG.
PNG_BACKGROUND = (40, 40, 40, 255)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="run an image through a model: top-5 and feature maps",
        description="Run IMAGE through model NAME, print the top-5 classes and the "
        "statistics of one layer's output, and optionally write its feature maps as one "
        "mosaic PNG. IMAGE is a file path, or 'sample' / 'sample:NAME' for a built-in image.",
    )
    add_model_arguments(p)
    p.add_argument("image", metavar="IMAGE", help="image file, or sample[:NAME]")
    p.add_argument(
        "--layer",
        metavar="MODULE_PATH",
        help="module path (layer1.0.conv1) or a node's name as the graph shows it "
        "(layer1.0 (add)); default: the last layer with spatial feature maps",
    )
    p.add_argument("--out", metavar="MAPS.png", help="write the layer's feature maps here")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    p.add_argument("--colormap", choices=COLORMAPS, default=COLORMAPS[0])
    p.add_argument("--scale", choices=("shared", "per_channel"), default="shared",
                   help="one value range for all channels, or one per channel")
    p.set_defaults(run=run)


def _default_layer(stepper) -> int:
    spatial = [i for i, shape in stepper.shapes.items()
               if len(shape) == 4 and shape[2] * shape[3] > 1]
    return max(spatial) if spatial else len(stepper) - 1


def write_mosaic_png(value, path: str | Path, colormap: str, scale: str):
    """Write a node output's channels as one PNG, enlarged so small maps stay visible."""
    import numpy as np
    from PIL import Image

    from explorer.activations.mosaic import render_mosaic

    mosaic, rgba = render_mosaic(value, colormap=colormap, scale=scale, background=PNG_BACKGROUND)
    longest = max(rgba.shape[0], rgba.shape[1])
    factor = int(max(1, min(16, 512 // max(longest, 1))))
    if factor > 1:
        rgba = np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1)
    from explorer.exports import write_image_export

    write_image_export(Image.fromarray(rgba, "RGBA"), path)  # atomic; never into the app's folders
    return mosaic


def run(args: argparse.Namespace) -> int:
    from explorer.activations.mosaic import tensor_stats
    from explorer.activations.predictions import top_k
    from explorer.activations.preprocess import preprocess
    from explorer.activations.stepper import Stepper
    from explorer.devices import choose_device, describe_device

    model_loaded = open_model(args)
    info, model, trained = model_loaded.info, model_loaded.module, model_loaded.trained
    from explorer.activations.samples import load_input

    loaded = load_input(args.image)
    device = choose_device(args.device)
    notices = list(loaded.notices) + notices_of(model_loaded)
    prepared = preprocess(loaded.image, info)
    stepper = Stepper(model, device)
    stepper.set_input(prepared.tensor)
    stepper.run_to_end()
    predictions = top_k(stepper.output(), trained=trained, names=model_loaded.class_names)
    layer_index = stepper.index_of(args.layer) if args.layer else _default_layer(stepper)
    record = stepper.run_to(layer_index)
    activation = stepper.activation()
    if activation is None:
        raise UserError(f"node {record.title} does not output a tensor; choose another --layer")
    stats = tensor_stats(activation)
    mosaic = None
    if args.out:
        mosaic = write_mosaic_png(activation, args.out, args.colormap, args.scale)
    notices += prepared.notices

    if args.json:
        payload = {
            "model": args.name,
            "image": loaded.source,
            "image_size": list(loaded.original_size),
            "notices": notices,
            "device": describe_device(device),
            "trained": trained,
            "note": predictions.note,
            "top5": predictions.as_dicts(),
            "layer": {
                "node": record.title,
                "module_path": record.module_path,
                "kind": record.kind,
                **stats.as_dict(),
                "shape": list(stats.shape),
            },
            "mosaic": None if mosaic is None else {
                "path": str(args.out), "rows": mosaic.rows, "cols": mosaic.cols,
                "channels": mosaic.channels, "colormap": args.colormap, "scale": args.scale,
            },
        }
        from explorer.json_output import finite_json

        # NaN and Infinity are not JSON: a model that overflows gives nulls instead.
        print(json.dumps(finite_json(payload), indent=2, allow_nan=False))
        return 0

    print(f"model:  {info.title} ({args.name}), {'trained' if trained else 'untrained'} weights")
    print(f"image:  {loaded.source}, {loaded.original_size[0]}x{loaded.original_size[1]} -> "
          f"{'x'.join(str(d) for d in prepared.tensor.shape[1:])}")
    for notice in notices:
        print(f"note:   {notice}")
    print(f"device: {describe_device(device)}")
    if predictions.note:
        print(f"top-5 ({predictions.note}):")
    else:
        print("top-5:")
    for rank, p in enumerate(predictions.top, 1):
        print(f"  {rank}. {p.name:<24} {p.probability * 100:6.2f}%")
    shape = "x".join(str(d) for d in stats.shape)
    print(f"layer:  {record.title} ({record.kind}) {shape}")
    print(f"  min {stats.min:.4g}  max {stats.max:.4g}  mean {stats.mean:.4g}  "
          f"std {stats.std:.4g}  zeros in this map {stats.zero_share * 100:.1f}%")
    if mosaic is not None:
        print(f"mosaic: {args.out} ({mosaic.channels} channels, {mosaic.rows}x{mosaic.cols} tiles)")
    return 0
