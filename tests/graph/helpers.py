"""Model lookup for graph tests: the zoo's registered names once they exist, else torchvision's."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=None)
def zoo_names() -> frozenset[str]:
    try:
        from explorer.models import list_models

        return frozenset(list_models())
    except Exception:  # the zoo is not registered yet
        return frozenset()


def model_name(name: str) -> str:
    """``name`` when the zoo registers it, else ``torchvision.<name>`` (same topology)."""
    return name if name in zoo_names() else f"torchvision.{name}"


@functools.lru_cache(maxsize=None)
def traced(name: str):
    from explorer.graph import build_named_graph

    return build_named_graph(model_name(name))
