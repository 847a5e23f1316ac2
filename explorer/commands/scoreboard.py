"""`cnn-explorer scoreboard`: the zoo scoreboard as tables (or JSON), the window's
Scoreboard tab in text.

Two tables, never mixed on one accuracy column: torchvision's published ImageNet-1K top-1
of every reference classifier (its figure, from its weights metadata, shipped as data:
no torch import), and the Fashion-MNIST test accuracy of the small forms, shipped
weights and the user's runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from explorer.train.records import TEST_ACC


def add_parser(subparsers: Any) -> None:
    """Add the ``scoreboard`` subcommand."""
    p = subparsers.add_parser(
        "scoreboard",
        help="accuracy against compute: torchvision's ImageNet figures and the small forms",
        description="List accuracy, compute (GMACs: one multiply-add counts once, as torchvision "
        "and the papers count their 'GFLOPs') and parameters: ImageNet-1K top-1 of every model "
        "torchvision publishes (torchvision's figure), and the Fashion-MNIST test accuracy of the "
        "small forms' shipped weights and of your runs.",
    )
    p.add_argument("--panel", choices=("reference", "small", "both"), default="both",
                   help="which table to print (default both)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(run=run_scoreboard)


def _table(points: list[dict[str, Any]], accuracy: str) -> str:
    headers = ["model", "weights", accuracy, "GMACs", "params (M)"]
    rows = []
    key = "top1" if accuracy == "top-1" else TEST_ACC
    for p in sorted(points, key=lambda q: -q[key]):
        weights = p.get("weights") or ("shipped" if p["source"] == "shipped" else f"run {p.get('run_name') or p['run_id']}")
        value = p[key]
        rows.append([p["name"], weights, f"{value * 100:.2f}%", f"{p['gmacs']:.4g}", f"{p['params'] / 1e6:.3g}"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    return "\n".join("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in [headers, *rows])


def run_scoreboard(args: argparse.Namespace) -> int:
    from explorer.json_output import finite_json
    from explorer.metrics.scoreboard import scoreboard

    board = scoreboard()
    panels = ("reference", "small") if args.panel == "both" else (args.panel,)
    if args.json:
        print(json.dumps(finite_json({k: board[k] for k in panels}), indent=2))
        return 0
    for i, panel in enumerate(panels):
        if i:
            print()
        print(f"{board[panel]['label']}: {len(board[panel]['points'])} models")
        print(_table(board[panel]["points"], "top-1" if panel == "reference" else "test acc"))
    return 0
