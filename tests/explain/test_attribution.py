"""Grad-CAM, saliency and occlusion through Captum; the Adebayo et al. sanity check."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from explorer.explain.attribution import (
    AttributionError,
    attribute,
    default_cam_layer,
    effective_receptive_field,
    overlay,
)
from explorer.explain.layers import LayerError, module_for_node
from explorer.graph import build_graph
from explorer.models import get_model, get_model_info

from .conftest import TRAINED_MODEL, batch


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a.ravel())).astype(np.float64)
    rb = np.argsort(np.argsort(b.ravel())).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def test_gradcam_of_randomised_weights_differs_from_the_trained_one(trained, tiny_data):
    """Adebayo et al. 2018: a map that survives randomising the weights explains nothing."""
    model, _ = trained
    x = batch(TRAINED_MODEL, tiny_data.test_images[:64])
    accuracy = float((model(x).argmax(1) == tiny_data.test_labels[:64]).float().mean())
    assert accuracy > 0.9  # the model did learn the bars
    graph = build_graph(model, tuple(x[:1].shape))
    torch.manual_seed(1)
    random_model = get_model(TRAINED_MODEL).eval()
    control = copy.deepcopy(model)
    with torch.no_grad():  # the same weights give the same map: the measure has teeth
        for p in control.parameters():
            p.add_(torch.randn_like(p) * 1e-4)
    randomised, same = [], []
    for i in range(8):
        label = int(tiny_data.test_labels[i])
        trained_map = attribute(model, x[i:i + 1], "gradcam", graph=graph, target=label).values
        random_map = attribute(random_model, x[i:i + 1], "gradcam", graph=graph, target=label).values
        control_map = attribute(control, x[i:i + 1], "gradcam", graph=graph, target=label).values
        randomised.append(_rank_correlation(trained_map, random_map))
        same.append(_rank_correlation(trained_map, control_map))
    assert np.mean(same) > 0.9
    assert np.mean(randomised) < 0.4


def test_each_method_gives_a_map_at_input_size_with_a_caption(trained, tiny_data):
    model, _ = trained
    x = batch(TRAINED_MODEL, tiny_data.test_images[:1])
    graph = build_graph(model, tuple(x.shape))
    for method in ("gradcam", "saliency", "occlusion"):
        result = attribute(model, x, method, graph=graph, class_names=("zero",) * 10)
        assert result.values.shape == (28, 28)
        assert result.target == result.predicted == int(model(x).argmax())
        assert "'zero'" in result.caption and ";" in result.caption
        stats = result.stats()
        assert stats["max"] >= stats["mean"] >= stats["min"]
        assert stats["max"] > 0
    cam = attribute(model, x, "gradcam", graph=graph, target=3)
    assert cam.target == 3 and cam.layer is not None
    assert tuple(cam.raw_shape) == tuple(graph.node(cam.node)["shape"][2:])


def test_bad_requests_are_user_errors(trained, tiny_data):
    model, _ = trained
    x = batch(TRAINED_MODEL, tiny_data.test_images[:1])
    graph = build_graph(model, tuple(x.shape))
    with pytest.raises(AttributionError, match="out of range"):
        attribute(model, x, "saliency", graph=graph, target=10)
    with pytest.raises(LayerError, match="unknown layer"):
        attribute(model, x, "gradcam", graph=graph, layer="nowhere")
    with pytest.raises(AttributionError, match="unknown method"):
        attribute(model, x, "lime", graph=graph)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    with pytest.raises(AttributionError, match="no convolutional feature map"):
        attribute(mlp, x, "gradcam", graph=build_graph(mlp, tuple(x.shape)))


def test_a_node_maps_to_the_block_that_ends_there():
    model = get_model("resnet18_small").eval()
    graph = build_graph(model, get_model_info("resnet18_small").input_shape)
    assert default_cam_layer(graph, model)[0] == "layer4"
    path, end = module_for_node(graph, model, "layer2.1")  # a module path is taken as given
    assert path == "layer2.1" and graph.node(end)["module_path"].startswith("layer2.1")
    assert module_for_node(graph, model, end)[0] == "layer2"  # its node: the outermost block
    add = next(n for n in graph.order if graph.node(n)["category"] == "add")
    with pytest.raises(LayerError, match="no module ends"):
        module_for_node(graph, model, add)  # a ReLU follows the add inside the block


def test_effective_field_lies_inside_the_theoretical_box(trained, tiny_data):
    from explorer.graph.receptive_field import unit_box

    model, _ = trained
    x = batch(TRAINED_MODEL, tiny_data.test_images[:1])
    graph = build_graph(model, tuple(x.shape))
    path, node = default_cam_layer(graph, model)
    shape = graph.node(node)["shape"]
    y, x_pos = shape[2] - 1, 0
    heat = effective_receptive_field(model, x, path, y, x_pos)
    box = unit_box(graph.node(node), y, x_pos, (28, 28))
    top, left, bottom, right = box.clipped
    inside = heat[top:bottom + 1, left:right + 1].sum()
    assert heat.sum() > 0 and inside == pytest.approx(heat.sum())
    with pytest.raises(AttributionError, match="outside"):
        effective_receptive_field(model, x, path, shape[2], 0)


def test_overlay_blends_by_opacity():
    image = np.full((4, 5), 100, dtype=np.uint8)
    values = np.zeros((4, 5), dtype=np.float32)
    values[1, 2] = 2.0
    assert (overlay(image, values, opacity=0.0)[:, :, :3] == 100).all()
    full = overlay(image, values, opacity=1.0, colormap="gray")
    assert full.shape == (4, 5, 4) and full[1, 2, 0] == 255 and full[0, 0, 0] == 0


def test_overlay_saturates_a_heavy_tail_from_a_percentile_and_fades_by_strength():
    image = np.full((10, 10), 100, dtype=np.uint8)
    values = np.zeros((10, 10), dtype=np.float32)
    values[0, :] = np.linspace(0.1, 1.0, 10)
    values[1, 0] = 50.0  # one outlier: scaled to the maximum, everything else would be dark
    by_max = overlay(image, values, opacity=1.0, colormap="gray")
    assert (by_max[0, :, 0] < 10).all()
    by_tail = overlay(image, values, opacity=1.0, colormap="gray", top_percentile=80)
    top = np.percentile(values[values > 0], 80)
    assert (by_tail[0][values[0] >= top][:, 0] == 255).all() and by_tail[1, 0, 0] == 255
    faded = overlay(image, values, opacity=1.0, colormap="gray", top_percentile=80, fade=True)
    assert (faded[2:, :, :3] == 100).all()  # zero map: the image untouched, not dimmed
    assert (overlay(image, values, opacity=1.0, colormap="gray")[2:, :, 0] == 0).all()
    assert faded[1, 0, 0] == 255
