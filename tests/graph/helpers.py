"""Graphs of registered models, traced once per test session (tracing is the slow part)."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=None)
def traced(name: str):
    from explorer.graph import build_named_graph

    return build_named_graph(name)
