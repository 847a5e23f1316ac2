"""A zoo model's graph as the app asks for it: from its snapshot when one is current (no
torch import, milliseconds), else traced and kept on disk for the next time.

The graph service (the window's) and the CLI commands that need no forward pass (`rf`)
share this one rule; see ``explorer/snapshots.py`` for what makes a snapshot current.
"""

from __future__ import annotations

from typing import Any

import explorer.graph as graph_package
from explorer import snapshots
from explorer.graph.model_graph import ModelGraph
from explorer.models.sources import is_file_source


def named_graph(name: str, builder_kwargs: dict[str, Any] | None = None) -> tuple[ModelGraph, str | None]:
    """The graph of registered model ``name`` built with ``builder_kwargs``.

    Returns:
        (graph, notice): the notice is one line for the user when a saved graph could not
        be used (stale or damaged) and was traced again, or could not be kept; else None.

    Raises:
        ModelError, GraphTraceError: as ``build_named_graph`` does.
    """
    kwargs = dict(builder_kwargs or {})
    if is_file_source(name):  # a user's file may change under the same name: traced each time
        return graph_package.build_named_graph(name, kwargs), None
    document, why = snapshots.read_graph(name, kwargs)
    if document is not None:
        return ModelGraph.from_dict(document), None
    # Tracing imports torch: on first use, through the package's lazy names.
    graph = graph_package.build_named_graph(name, kwargs)
    notice = f"the saved graph of {name} could not be used ({why}); traced it again" if why else None
    if not snapshots.environ_disabled():
        try:
            snapshots.write_graph(snapshots.graph_cache_folder(), name, kwargs, graph.to_dict())
        except OSError as exc:
            notice = f"cannot keep the graph of {name} for the next start ({exc})"
    return graph, notice
