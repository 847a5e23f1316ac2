"""Build a model by name (registry, or ``torchvision.<name>``) and trace it.

Structure does not depend on weights, so models are built on the meta device: no memory
for VGG's 138 M parameters and no time spent initialising them.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from explorer.errors import UserError
from explorer.graph.model_graph import ModelGraph
from explorer.graph.trace import GraphTraceError, build_graph

TORCHVISION_PREFIX = "torchvision."
_TORCHVISION_INPUT = {"inception_v3": (1, 3, 299, 299)}


def resolve_model(name: str, builder_kwargs: dict[str, Any] | None = None, *, meta: bool = True,
                  ) -> tuple[nn.Module, tuple[int, ...]]:
    """Build ``name`` and return it with the input shape it expects.

    ``torchvision.<name>`` builds torchvision's own architecture (224x224 RGB input, 299
    for Inception v3); any other name goes through the registry.

    Raises:
        UserError: unknown name or builder arguments the builder refuses.
    """
    kwargs = dict(builder_kwargs or {})
    if name.startswith(TORCHVISION_PREFIX):
        import torchvision

        arch = name[len(TORCHVISION_PREFIX):]
        if arch not in torchvision.models.list_models(module=torchvision.models):
            raise UserError(f"unknown torchvision model {arch!r}")
        shape = _TORCHVISION_INPUT.get(arch, (1, 3, 224, 224))
        build = lambda: torchvision.models.get_model(arch, **kwargs)  # noqa: E731
    else:
        from explorer.models import get_model, get_model_info

        info = get_model_info(name)
        shape = info.input_shape
        build = lambda: get_model(name, **kwargs)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's init-weights FutureWarnings
        if meta:
            try:
                with torch.device("meta"):
                    return build(), shape
            except (NotImplementedError, RuntimeError):
                # A builder that reads its weights' values (torchvision's RegNets copy
                # into them: "Cannot copy out of meta tensor") builds for real below.
                pass
        try:
            return build(), shape
        except TypeError as exc:
            raise UserError(f"{name}: {exc}") from None


def build_named_graph(name: str, builder_kwargs: dict[str, Any] | None = None) -> ModelGraph:
    """Trace a model by name; falls back to a hook graph on a real build if fx fails."""
    model, shape = resolve_model(name, builder_kwargs)
    try:
        return build_graph(model, shape, name=name, fallback=False)
    except GraphTraceError:
        # The hook fallback runs a real forward pass, which meta weights cannot do.
        real, shape = resolve_model(name, builder_kwargs, meta=False)
        return build_graph(real, shape, name=name, fallback=True)
