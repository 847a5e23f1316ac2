"""Build a model by name (registry, or ``torchvision.<name>``) and trace it.

Structure does not depend on weights, so models are built on the meta device: no memory
for VGG's 138 M parameters and no time spent initialising them.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from explorer.errors import UserError
from explorer.graph.model_graph import BLOCK, LAYER, ModelGraph
from explorer.graph.trace import GraphTraceError, build_graph
from explorer.models.meta import meta_device

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
                with meta_device():
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
    """Trace a model by name; falls back to a hook graph on a real build if fx fails.

    A registered model's graph carries the paper's own figures (``paper`` on the graph,
    and on the nodes and blocks a paper gives numbers or a note for).
    """
    model, shape = resolve_model(name, builder_kwargs)
    try:
        graph = build_graph(model, shape, name=name, fallback=False)
    except GraphTraceError:
        # The hook fallback runs a real forward pass, which meta weights cannot do.
        real, shape = resolve_model(name, builder_kwargs, meta=False)
        graph = build_graph(real, shape, name=name, fallback=True)
    if not name.startswith(TORCHVISION_PREFIX):
        attach_paper_figures(graph, name)
    return graph


_MAIN_CATEGORIES = ("conv", "depthwise", "linear")


def attach_paper_figures(graph: ModelGraph, name: str) -> None:
    """Put the paper's figures for ``name`` on the graph, its layers and its blocks.

    A figure for a layer goes on its node; for a block (an Inception module) on the
    block's record, which a closed block shows; for a plain container (GoogLeNet's
    ``conv1``: conv + ReLU) on the record and on its main layer, which is what is drawn.
    """
    from explorer.models.paper import PAPER_TOTALS, paper_figures

    total = PAPER_TOTALS.get(name)
    graph.paper = total.to_dict() if total is not None else None
    if graph.paper is not None:
        # The output node stands for the whole pass: its details compare the model's totals.
        outputs = [n for n in graph.order if graph.node(n)["op"] == "output" and not graph.node(n).get("aux")]
        if outputs:
            graph.node(outputs[-1])["paper"] = {
                **graph.paper, "scope": "whole model",
                "measured": {"params": graph.total_params, "macs": graph.total_flops // 2},
            }
    for path, figure in paper_figures(name).items():
        record = graph.modules.get(path)
        if record is None:
            continue
        data = figure.to_dict()
        if record.kind != LAYER:
            record.paper = data
            if record.kind == BLOCK:
                continue
        main = [n for n in record.nodes if not graph.node(n).get("aux")
                and (record.kind == LAYER or graph.node(n).get("category") in _MAIN_CATEGORIES)]
        if main:
            graph.node(main[0])["paper"] = data
