"""The window's class-evidence map in one call (no Qt): prepare the shown image, trace the
model's graph and run one attribution method on a copy of the model.

Runs in a worker: the copy keeps Captum's hooks off the module the feature-map stepper
may be running at the same time.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import torch

from explorer.explain.attribution import Attribution, AttributionError, attribute
from explorer.explain.layers import LayerError


@dataclasses.dataclass(frozen=True)
class Evidence:
    """A class-evidence map for the image shown.

    Attributes:
        attribution: the map, its caption and classes.
        display: the input as the model sees it, (H, W) or (H, W, 3) uint8.
        note: why Grad-CAM is not at the node asked for (the default layer is used), and
            why the map is blank when it is zero everywhere; or "".
    """

    attribution: Attribution
    display: np.ndarray
    note: str


def explain_image(model: torch.nn.Module, model_name: str, image: Any, method: str,
                  target: int | None = None, node: str | None = None,
                  names: tuple[str, ...] | None = None) -> Evidence:
    """``method``'s map of ``target`` (None: the predicted class) for ``image``.

    Args:
        node: Grad-CAM's node; when no module with a spatial map ends there, the model's
            last convolutional layer is used and ``note`` says so.
        names: the model's class names (``LoadedModel.class_names``); None, or names that
            do not fit its head: the names a head of that size gets.

    Raises:
        UserError: unknown method, class out of range, a model without conv layers.
    """
    from explorer.activations.predictions import class_names
    from explorer.activations.preprocess import preprocess, spec_for_model
    from explorer.graph.trace import build_graph

    model = copy.deepcopy(model).eval()
    prepared = preprocess(image.image, spec_for_model(model, model_name))
    x = prepared.tensor
    graph = build_graph(model, tuple(x.shape), name=model_name)
    with torch.no_grad():
        classes = int(model(x).reshape(1, -1).shape[1])
    names = tuple(names) if names is not None and len(names) == classes else class_names(classes)
    note = ""
    try:
        result = attribute(model, x, method, graph=graph, target=target, layer=node if method == "gradcam" else None,
                           class_names=names)
    except (LayerError, AttributionError) as exc:
        if method != "gradcam" or node is None or "out of range" in str(exc):
            raise
        shown = graph.node(node).get("title", node) if node in graph.graph else node  # its one name
        note = f"not at {shown} ({exc}); "
        result = attribute(model, x, method, graph=graph, target=target, class_names=names)
        note += f"shown at {result.layer}, the last convolutional layer"
    if not (result.values > 0).any():
        # A blank map reads as a failure; say what it means (Grad-CAM keeps only the
        # positive part: at some nodes every position's weighted sum is negative).
        where = f"no channel of {result.layer}" if method == "gradcam" else "no pixel"
        blank = (f"the map is zero everywhere: {where} raises the score of the class here"
                 + ("; try another node" if method == "gradcam" else ""))
        note = f"{note}; {blank}" if note else blank
    return Evidence(result, np.asarray(prepared.display), note)
