"""`cnn-explorer profile NAME`: per-node latency on a device, with parameters, FLOPs and
output size, and the sum of the per-node times against one eager pass."""

from __future__ import annotations

import argparse
import json
from typing import Any

from explorer.commands.model_source import add_model_arguments, model_source
from explorer.commands.options import THREADS, int_range

# Batch: a reference model at 224 px takes about 1 GB of activations per 64 images.
REPEATS, PROFILE_BATCH, TOP = int_range(1, 10_000), int_range(1, 1024), int_range(0, 100_000)


def add_parser(subparsers: Any) -> None:
    """Add the ``profile`` subcommand."""
    p = subparsers.add_parser(
        "profile",
        help="per-node latency on a device: sum against one eager pass",
        description="Time every node of NAME's forward pass (batch 1 by default) on a device, "
        "the median of --repeats passes, and compare their sum with a plain eager pass. The "
        "per-node instrument overhead, measured on the same device, is subtracted.",
    )
    add_model_arguments(p, weights=False)
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    p.add_argument("--repeats", type=REPEATS, default=20, help="timed passes, 1-10000 (default 20)")
    p.add_argument("--batch", type=PROFILE_BATCH, default=1, help="images per pass, 1-1024 (default 1)")
    p.add_argument("--threads", type=THREADS, help="CPU threads for torch, 1 to 4 per core (default: torch's own)")
    p.add_argument("--top", type=TOP, default=0, help="only the N slowest nodes in the table (0: all)")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    p.set_defaults(run=run_profile)


def profile_model(name: str, device: str, repeats: int, batch: int) -> dict[str, Any]:
    """The profile of a registered model as plain data (the command's JSON)."""
    import torch

    from explorer.errors import UserError
    from explorer.graph import build_graph
    from explorer.graph.named import resolve_model
    from explorer.metrics.latency import profile_latency
    from explorer.metrics.overlays import latency_metrics, merge, static_metrics

    if repeats < 1 or batch < 1:
        raise UserError("--repeats and --batch must be at least 1")
    model, shape = resolve_model(name, meta=False)
    x = torch.randn(batch, *shape[1:], generator=torch.Generator().manual_seed(0))
    graph = build_graph(model, (batch, *shape[1:]), name=name)
    profile = profile_latency(model, x, device, repeats=repeats)
    per_node = merge(static_metrics(graph), latency_metrics(profile))
    # Joined on the internal id, shown by title: the node's one name (graph/titles.py).
    nodes = [{**n, **per_node.get(n["node"], {}), "node": n["title"]} for n in profile.nodes]
    for n in nodes:
        del n["title"]
    return {"model": name, "input_shape": [batch, *shape[1:]], **profile.to_dict(), "nodes": nodes}


def run_profile(args: argparse.Namespace) -> int:
    if args.threads:
        import torch

        # On a busy machine, threads waiting on each other swamp the per-node times.
        torch.set_num_threads(args.threads)
    result = profile_model(model_source(args), args.device, args.repeats, args.batch)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    nodes = result["nodes"]
    if args.top:
        nodes = sorted(nodes, key=lambda n: -n["ms"])[: args.top]
    headers = ("node", "kind", "ms", "params", "MFLOPs", "out size")
    rows = [
        (n["node"], n["kind"], f"{n['ms']:.4f}", str(n.get("params", "")), f"{n.get('flops', 0) / 1e6:.2f}", str(n.get("output_size", "")))
        for n in nodes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for r in [headers, *rows]:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print(
        f"\n{result['model']} on {result['device']}: per-node sum {result['sum_ms']:.3f} ms, eager pass "
        f"{result['eager_ms']:.3f} ms (ratio {result['ratio']:.3f}; {result['overhead_us']:.1f} us/node "
        f"instrument overhead subtracted, raw sum {result['raw_sum_ms']:.3f} ms)"
    )
    return 0
