"""Class evidence: Grad-CAM, gradient saliency and occlusion (Captum), and the effective
receptive field of one unit.

Captum (Meta's interpretability library) computes the maps; this module picks the layer,
the target class and the occlusion window, brings every map to the input's resolution and
says in one line what each map is and where it misleads. Captum is imported when a map is
asked for, so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from explorer.errors import UserError
from explorer.explain.layers import LayerError, module_for_node
from explorer.graph.model_graph import ModelGraph

METHODS = ("gradcam", "saliency", "occlusion")

# One line each: what the map is, then its caveat.
CAPTIONS = {
    "gradcam": "Grad-CAM at {layer}: where the channels that raise '{cls}' are active; coarse "
               "({h}x{w} cells upsampled) and blind to evidence against the class",
    "saliency": "Gradient saliency for '{cls}': how strongly each pixel's change would move the "
                "score; a first-order, noisy local view, not the evidence itself",
    "occlusion": "Occlusion for '{cls}': the score lost when a {k}x{k} patch is set to the mean "
                 "image; slow (one pass per position) and as coarse as the patch",
}


class AttributionError(UserError):
    """A map cannot be made: an unknown layer, a class out of range, no conv layer."""


@dataclasses.dataclass
class Attribution:
    """One map over the input.

    Attributes:
        method: ``gradcam``, ``saliency`` or ``occlusion``.
        values: (H, W) float32 at the input's resolution.
        raw_shape: (h, w) the method produced before upsampling (Grad-CAM: the layer's map).
        target: the class the map explains.
        predicted: the class the model predicts for the input.
        layer: module path Grad-CAM read (None for the other methods).
        node: graph node id of that module's output (None for the other methods).
        caption: what the map is and its caveat, one line.
    """

    method: str
    values: np.ndarray
    raw_shape: tuple[int, int]
    target: int
    predicted: int
    layer: str | None
    node: str | None
    caption: str

    def stats(self) -> dict[str, Any]:
        v = self.values
        return {
            "shape": list(v.shape),
            "raw_shape": list(self.raw_shape),
            "min": float(v.min()),
            "max": float(v.max()),
            "mean": float(v.mean()),
            "std": float(v.std()),
            "positive_share": float((v > 0).mean()),
        }


def default_cam_layer(graph: ModelGraph, model: nn.Module) -> tuple[str, str]:
    """The last module with a spatial feature map (the layer Grad-CAM is usually shown at).

    Raises:
        AttributionError: the model has no convolutional feature map.
    """
    for node in reversed(graph.order):
        a = graph.node(node)
        shape = a.get("shape")
        if a.get("aux") or not (isinstance(shape, list) and len(shape) == 4):
            continue
        if shape[2] * shape[3] <= 1:
            continue
        try:
            return module_for_node(graph, model, node)
        except LayerError:
            continue
    raise AttributionError(f"{graph.name} has no convolutional feature map for Grad-CAM")


def _check_target(logits: torch.Tensor, target: int | None) -> tuple[int, int]:
    predicted = int(logits.argmax(1)[0])
    if target is None:
        return predicted, predicted
    classes = logits.shape[1]
    if not 0 <= target < classes:
        raise AttributionError(f"class {target} is out of range: this model has classes 0-{classes - 1}")
    return int(target), predicted


def occlusion_window(size: tuple[int, int]) -> tuple[int, int]:
    """(window, stride) for occlusion: a seventh of the shorter side, half-overlapping."""
    window = max(2, min(size) // 7)
    return window, max(1, window // 2)


def attribute(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    *,
    graph: ModelGraph,
    target: int | None = None,
    layer: str | None = None,
    class_names: tuple[str, ...] | None = None,
) -> Attribution:
    """One class-evidence map for input ``x`` (1, C, H, W) on ``model`` (put in eval mode).

    Args:
        model: the network; its weights are read, never changed.
        x: one normalised input.
        method: one of :data:`METHODS`.
        graph: the model's traced graph (to resolve ``layer`` and pick the default).
        target: class to explain; None explains the predicted class.
        layer: Grad-CAM's node id or module path; None picks :func:`default_cam_layer`.
        class_names: names for the caption; class numbers when None.

    Raises:
        AttributionError: unknown method, class out of range, no conv layer.
        LayerError: unknown layer, or no module ends at that node.
    """
    from captum.attr import LayerAttribution, LayerGradCam, Occlusion, Saliency

    if method not in METHODS:
        raise AttributionError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    model.eval()
    with torch.no_grad():
        logits = model(x)
    target, predicted = _check_target(logits, target)
    name = class_names[target] if class_names and target < len(class_names) else str(target)
    size = (x.shape[2], x.shape[3])
    module_path = node = None
    if method == "gradcam":
        module_path, node = module_for_node(graph, model, layer) if layer else default_cam_layer(graph, model)
        shape = graph.node(node).get("shape")
        if not (isinstance(shape, list) and len(shape) == 4):
            raise AttributionError(f"{module_path} has no spatial feature map for Grad-CAM; pick a conv layer")
        cam = LayerGradCam(model, model.get_submodule(module_path))
        raw = cam.attribute(x, target=target, relu_attributions=True)
        raw_shape = (raw.shape[2], raw.shape[3])
        values = LayerAttribution.interpolate(raw, size, interpolate_mode="bilinear")
        caption = CAPTIONS["gradcam"].format(layer=module_path, cls=name, h=raw_shape[0], w=raw_shape[1])
    elif method == "saliency":
        values = Saliency(model).attribute(x.clone().requires_grad_(True), target=target, abs=True)
        values = values.amax(1, keepdim=True)  # strongest channel per pixel
        raw_shape = size
        caption = CAPTIONS["saliency"].format(cls=name)
    else:
        window, stride = occlusion_window(size)
        channels = x.shape[1]
        values = Occlusion(model).attribute(
            x, target=target, sliding_window_shapes=(channels, window, window),
            strides=(channels, stride, stride), baselines=0.0, perturbations_per_eval=16,
        ).mean(1, keepdim=True)
        raw_shape = size
        caption = CAPTIONS["occlusion"].format(cls=name, k=window)
    array = values.detach()[0, 0].float().cpu().numpy().astype(np.float32)
    return Attribution(method, array, raw_shape, target, predicted, module_path, node, caption)


def effective_receptive_field(model: nn.Module, x: torch.Tensor, module_path: str, y: int,
                              x_pos: int, channel: int | None = None) -> np.ndarray:
    """|d unit / d input| summed over input channels: the pixels unit (y, x_pos) of a
    module's output actually depends on (Luo et al. 2016), as an (H, W) map.

    Args:
        channel: one channel of the unit; None sums all channels at that position.

    Raises:
        AttributionError: the position lies outside the module's map.
    """
    model.eval()
    inp = x.detach().clone().requires_grad_(True)
    captured: dict[str, torch.Tensor] = {}
    handle = model.get_submodule(module_path).register_forward_hook(
        lambda _m, _i, out: captured.setdefault("out", out))
    try:
        model(inp)
    finally:
        handle.remove()
    out = captured["out"]
    if out.dim() != 4 or not (0 <= y < out.shape[2] and 0 <= x_pos < out.shape[3]):
        raise AttributionError(f"pixel ({y}, {x_pos}) is outside {module_path}'s map {list(out.shape[2:])}")
    unit = out[0, :, y, x_pos] if channel is None else out[0, channel, y, x_pos]
    (grad,) = torch.autograd.grad(unit.sum(), inp)
    return grad[0].abs().sum(0).cpu().numpy().astype(np.float32)


def overlay(image: np.ndarray, values: np.ndarray, *, opacity: float = 0.5,
            colormap: str = "inferno", top_percentile: float | None = None,
            fade: bool = False) -> np.ndarray:
    """An (H, W, 4) uint8 picture: the map in ``colormap`` over the grey or RGB ``image``.

    Args:
        image: (H, W) or (H, W, 3) uint8, the input as shown.
        values: (H, W) map; scaled to its own maximum (negative values show as zero).
        opacity: 0 shows only the image, 1 only the map.
        top_percentile: scale to this percentile of the positive values instead of the
            maximum, so that a heavy-tailed map (a gradient: a few pixels far above the
            rest) shows its strong pixels fully saturated rather than one bright speck.
        fade: blend each pixel by its own strength (``opacity`` at full strength), so the
            image stays plain where the map is zero instead of dimmed everywhere.
    """
    from explorer.activations.colormaps import lookup_table

    base = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    positive = values[values > 0]
    if positive.size == 0:
        top = 0.0
    elif top_percentile is None:
        top = float(positive.max())
    else:
        top = float(np.percentile(positive, top_percentile))
    scaled = np.clip(values / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    colours = lookup_table(colormap)[(scaled * 255).astype(np.uint8)][:, :, :3].astype(np.float32)
    alpha = (opacity * scaled)[:, :, None] if fade else opacity
    mixed = (1.0 - alpha) * base[:, :, :3].astype(np.float32) + alpha * colours
    rgba = np.full((*values.shape, 4), 255, dtype=np.uint8)
    rgba[:, :, :3] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return rgba
