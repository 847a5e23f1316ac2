"""Architecture graphs as data (no Qt): trace, hierarchy, views, layout, export.

Typical use::

    graph = build_graph(model, (1, 3, 224, 224))        # or build_named_graph("resnet50")
    view, layout = prepare_view(graph)                  # default view: blocks closed
    view, layout = prepare_view(graph, expanded_state(graph))   # every layer
"""

from __future__ import annotations

from explorer.graph.collapse import (
    ViewGraph,
    ViewState,
    collapse,
    default_state,
    expand,
    expanded_state,
    identical_runs,
    make_view,
    unfold,
    why_nothing_folds,
)
from explorer.graph.layout import Layout, layout_view
from explorer.graph.model_graph import CATEGORIES, EDGE_KINDS, ModelGraph, ModuleRecord
from explorer.lazy import lazy_names

# Tracing needs torch; viewing a graph (from a snapshot) does not. These names import their
# module on first use (PEP 562), so the graph service answers from a snapshot before torch
# has loaded.
_TRACING = {
    "build_named_graph": "named",
    "resolve_model": "named",
    "GraphTraceError": "trace",
    "build_graph": "trace",
}


__getattr__, __dir__ = lazy_names(__name__, _TRACING)


def prepare_view(graph: ModelGraph, state: ViewState | None = None) -> tuple[ViewGraph, Layout]:
    """The view for ``state`` (default: blocks closed, long runs folded) and its layout."""
    view = make_view(graph, state if state is not None else default_state(graph))
    return view, layout_view(view, view.state.direction)


__all__ = [
    "CATEGORIES",
    "EDGE_KINDS",
    "GraphTraceError",
    "Layout",
    "ModelGraph",
    "ModuleRecord",
    "ViewGraph",
    "ViewState",
    "build_graph",
    "build_named_graph",
    "collapse",
    "default_state",
    "expand",
    "expanded_state",
    "identical_runs",
    "layout_view",
    "make_view",
    "prepare_view",
    "resolve_model",
    "unfold",
    "why_nothing_folds",
]
