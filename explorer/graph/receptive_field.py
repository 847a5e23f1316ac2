"""Receptive field and effective stride of every node, in input pixels."""

from __future__ import annotations

import networkx as nx


def receptive_fields(graph: nx.DiGraph, order: list[str]) -> None:
    """Receptive field and effective stride ([h, w] in input pixels) at every node.

    rf_out = rf_in + (k - 1) * dilation * jump_in and jump_out = jump_in * stride for
    windowed layers; merges take the largest field; flattening or global pooling covers
    the whole map. Windows of layers without stated kernels are inferred from shapes.
    """
    nodes = dict(graph.nodes.items())  # plain dict lookups: this runs for every node
    pred = graph.pred
    for node_id in order:
        a = nodes[node_id]
        shape = a.get("shape")
        if a["category"] == "input":
            a["receptive_field"], a["effective_stride"] = ([1, 1], [1, 1]) if shape else (None, None)
            continue
        preds = [nodes[p] for p in pred[node_id] if nodes[p].get("receptive_field") is not None]
        if not preds or shape is None:
            a["receptive_field"] = a["effective_stride"] = None
            continue
        if len(preds) == 1:
            rf, jump = list(preds[0]["receptive_field"]), list(preds[0]["effective_stride"])
        else:
            rf = [max(p["receptive_field"][i] for p in preds) for i in (0, 1)]
            jump = [max(p["effective_stride"][i] for p in preds) for i in (0, 1)]
        in_shape = preds[0].get("shape")
        hp = a.get("hparams") or {}
        spatial_in = in_shape is not None and len(in_shape) == 4
        if spatial_in and hp.get("kernel_size") and a["category"] in ("conv", "depthwise", "pool"):
            k, s = hp["kernel_size"], hp.get("stride") or hp["kernel_size"]
            d = hp.get("dilation") or [1, 1]
            for i in (0, 1):
                rf[i] += (k[i] - 1) * d[i] * jump[i]
                jump[i] *= s[i]
        elif spatial_in and len(shape) < 4:
            # flatten, mean over H and W, or a view: every output sees the whole map
            for i in (0, 1):
                size = in_shape[2 + i]
                rf[i] += (size - 1) * jump[i]
                jump[i] *= size
        elif spatial_in and len(shape) == 4:
            for i in (0, 1):
                size_in, size_out = in_shape[2 + i], shape[2 + i]
                if 0 < size_out < size_in:
                    s = size_in // size_out
                    k = size_in - (size_out - 1) * s
                    rf[i] += (k - 1) * jump[i]
                    jump[i] *= s
        a["receptive_field"], a["effective_stride"] = rf, jump

