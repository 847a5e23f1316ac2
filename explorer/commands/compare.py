"""`cnn-explorer compare A B --image IMG`: two models, or one model at two epochs or runs,
on the same image, at matching stages (stem, each stage end, classifier)."""

from __future__ import annotations

import argparse
import json
from typing import Any

# Height of one map in the PNG, in pixels.
ROW_PX = 96


def add_parser(subparsers: Any) -> None:
    """Add the ``compare`` subcommand."""
    p = subparsers.add_parser(
        "compare",
        help="two models or epochs on one image, at matching stages",
        description="Run A and B on the same image and compare them at the stem, each stage "
        "end and the classifier: shapes, and where equal, the mean and max absolute "
        "difference and cosine similarity. A and B are model names (shipped or published "
        "weights when present) or RUN@EPOCH (a run's weights at an epoch; RUN@last).",
    )
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--image", required=True, metavar="IMG", help="image file, or 'sample'")
    p.add_argument("--out", metavar="PNG", help="write A, B and |A-B| maps per matched stage")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    p.set_defaults(run=run_compare)


def _write_png(maps: list, path: str) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    from explorer.activations.mosaic import render_mosaic
    from explorer.errors import UserError

    rows = []
    for label, ta, tb, diff in maps:
        if ta.dim() < 3:  # logits: show as a one-row strip
            ta, tb, diff = (t.reshape(1, 1, 1, -1) for t in (ta, tb, diff))
        tiles = []
        for tensor, cmap in ((ta, "viridis"), (tb, "viridis"), (diff, "inferno")):
            _, rgba = render_mosaic(tensor[0], colormap=cmap)
            img = Image.fromarray(np.ascontiguousarray(rgba))
            scale = ROW_PX / img.height
            tiles.append(img.resize((max(1, round(img.width * scale)), ROW_PX), Image.NEAREST))
        width = sum(t.width for t in tiles) + 8 * len(tiles)
        row = Image.new("RGBA", (width, ROW_PX + 14), (255, 255, 255, 255))
        ImageDraw.Draw(row).text((2, 0), f"{label}: A | B | |A-B|", fill=(0, 0, 0, 255))
        x = 0
        for t in tiles:
            row.paste(t, (x, 14))
            x += t.width + 8
        rows.append(row)
    if not rows:
        raise UserError("no stage has equal shapes in A and B: nothing to draw")
    sheet = Image.new("RGBA", (max(r.width for r in rows), sum(r.height + 4 for r in rows)), (255, 255, 255, 255))
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 4
    from explorer.exports import write_image_export

    write_image_export(sheet, path)  # atomic; never into the app's own folders


def run_compare(args: argparse.Namespace) -> int:
    from explorer.activations.samples import load_input
    from explorer.compare import compare, load_subject

    image = load_input(args.image).image
    result = compare(load_subject(args.a), load_subject(args.b), image)
    maps = result.pop("maps")
    if args.out:
        _write_png(maps, args.out)
        result["png"] = args.out
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"A: {result['a']['label']} ({result['a']['weights']})")
    print(f"B: {result['b']['label']} ({result['b']['weights']})")
    for s in result["stages"]:
        same = s["mean_abs_diff"] is not None
        detail = (f"mean |A-B| {s['mean_abs_diff']:.4g}  max {s['max_abs_diff']:.4g}  cosine {s['cosine']:.4f}"
                  if same else f"shapes differ: {s['a_shape']} vs {s['b_shape']}")
        print(f"  {s['a_stage']:>12} ~ {s['b_stage']:<12} {detail}")
    print(f"top-1 class: A {result['top1']['a']}, B {result['top1']['b']}")
    return 0
