"""Edge kinds: plain, branch, residual, dense or aux, from the data flow alone."""

from __future__ import annotations

import networkx as nx

from explorer.graph.model_graph import ModuleRecord


def classify_edges(graph: nx.DiGraph, order: list[str], records: dict[str, ModuleRecord]) -> None:
    """Give every edge a kind: plain, branch, residual, dense or aux.

    * aux: into an auxiliary head.
    * residual: the shortcut into an add (the input with the shorter path from the
      input), back to where it forks, projection layers included.
    * dense: into a concatenation where one input is an ancestor of another (DenseNet
      feeds every earlier map forward); such edges also get ``bundled`` when another
      path already implies them, so the layout can route them together.
    * branch: into a concatenation of independent branches (Inception), and out of the
      node where those branches fork.
    """
    index = {n: i for i, n in enumerate(order)}
    depth: dict[str, int] = {}
    for n in order:
        preds = list(graph.predecessors(n))
        depth[n] = 1 + max((depth[p] for p in preds if p in depth), default=-1)
    dense_owners = {p for p, r in records.items() if r.block_type in ("dense_layer", "dense_block")}
    ancestors = _ancestor_masks(graph, index)
    source_mask = 0
    for n in order:
        if graph.nodes[n]["op"] == "placeholder":
            source_mask |= 1 << index[n]

    def from_input(p: str) -> bool:
        return bool((ancestors[p] | 1 << index[p]) & source_mask)

    for n in order:
        a = graph.nodes[n]
        if a.get("aux"):
            for p in graph.predecessors(n):
                graph.edges[p, n]["kind"] = "aux"
    for n in order:
        a = graph.nodes[n]
        inputs = [p for p in graph.predecessors(n) if graph.nodes[p].get("shape") is not None]
        if a["category"] == "add" and not a.get("aux"):
            # adding a bias or a learned coefficient is no shortcut (see demote_plain_adds)
            inputs = [p for p in inputs if from_input(p)]
            if len(inputs) < 2:
                continue
            skip = min(inputs, key=lambda p: (depth[p], index[p]))
            _mark_shortcut(graph, skip, n)
        elif a["category"] == "concat" and not a.get("aux"):
            if len(inputs) == 1:
                owners = set(_prefixes(a["module_path"]))
                if owners & dense_owners:
                    graph.edges[inputs[0], n]["kind"] = "dense"
                continue
            if len(inputs) < 2:
                continue
            latest = max(inputs, key=index.__getitem__)
            before_latest = ancestors[latest]
            if any(before_latest >> index[p] & 1 for p in inputs if p != latest):
                for p in inputs:
                    edge = graph.edges[p, n]
                    edge["kind"] = "dense"
                    if before_latest >> index[p] & 1:
                        edge["bundled"] = True
            else:
                _mark_branches(graph, inputs, n, index, ancestors, order)


def demote_plain_adds(graph: nx.DiGraph, order: list[str]) -> None:
    """An add that joins fewer than two values computed from the input (a bias, a learned
    coefficient, a constant) is arithmetic, not a shortcut: its category becomes "other",
    so only true shortcut additions are drawn (and inferred into blocks) as residual."""
    fed: set[str] = set()
    for n in order:
        a = graph.nodes[n]
        preds = list(graph.predecessors(n))
        if a["op"] == "placeholder" or any(p in fed for p in preds):
            fed.add(n)
        if a.get("category") == "add":
            from_input = [p for p in preds if p in fed and graph.nodes[p].get("shape") is not None]
            if len(from_input) < 2:
                a["category"] = "other"


def _ancestor_masks(graph: nx.DiGraph, index: dict[str, int]) -> dict[str, int]:
    """Every node's ancestors as a bit mask (bit ``index[n]`` set for ancestor ``n``).

    One pass in topological order, each node OR-ing its predecessors' masks, instead of
    a graph search per concatenation: DenseNet-201 has ~100 concatenations of up to 50
    inputs, and searching back from each was a fifth of its graph-building time.
    """
    masks: dict[str, int] = {}
    for n in nx.topological_sort(graph):
        mask = 0
        for p in graph.predecessors(n):
            mask |= masks[p] | 1 << index[p]
        masks[n] = mask
    return masks


def _prefixes(path: str) -> list[str]:
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _mark_shortcut(graph: nx.DiGraph, skip: str, add: str) -> None:
    graph.edges[skip, add]["kind"] = "residual"
    node = skip
    # Walk back along a projection (1x1 conv + BN) to the fork it leaves from.
    for _ in range(8):
        preds = [p for p in graph.predecessors(node) if graph.nodes[p].get("shape") is not None]
        if len(preds) != 1 or graph.out_degree(node) != 1:
            break
        graph.edges[preds[0], node]["kind"] = "residual"
        node = preds[0]
        if graph.out_degree(node) > 1:
            break


def _mark_branches(graph: nx.DiGraph, inputs: list[str], concat: str, index: dict[str, int],
                   ancestors: dict[str, int], order: list[str]) -> None:
    common, union = -1, 0
    for p in inputs:
        graph.edges[p, concat]["kind"] = "branch"
        reach = ancestors[p] | 1 << index[p]
        common &= reach
        union |= reach
    if not common:
        return
    fork = order[common.bit_length() - 1]  # the latest node every branch comes from
    for s in graph.successors(fork):
        edge = graph.edges[fork, s]
        if union >> index[s] & 1 and edge["kind"] == "plain":
            edge["kind"] = "branch"

