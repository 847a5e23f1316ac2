"""Every registered model, through the registry: receptive fields and Grad-CAM shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.explain.attribution import attribute
from explorer.graph import build_graph
from explorer.graph.named import resolve_model
from explorer.graph.receptive_field import unit_box
from explorer.models import get_model_info, list_models

# These flatten straight into fixed-size FC layers: only their own input size fits.
FIXED_INPUT = {"lenet5", "lenet", "alexnet", "alexnet_split"}


def _input_shape(name: str) -> tuple[int, int, int, int]:
    """ImageNet models at 64x64 (Inception v3 and NiN at 96, their smallest sizes that run);
    their adaptive pooling runs every layer on it, and the shapes follow the input."""
    info = get_model_info(name)
    if info.form == "reference" and name not in FIXED_INPUT:
        side = 96 if name in ("inception_v3", "nin") else 64
        return (1, info.in_channels, side, side)
    return info.input_shape


def _random_model(name: str):
    """The model with quick uniform weights: built on meta, then given real memory."""
    model, _ = resolve_model(name)
    model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.05, 0.05, generator=generator)
        for key, buffer in model.named_buffers():
            buffer.fill_(1 if key.endswith("running_var") else 0)
    return model.eval()


# Built on meta and given uniform weights, even VGG takes under 2 s here: nothing is slow.
@pytest.mark.parametrize("name", list_models())
def test_receptive_field_and_gradcam_shapes(name):
    model = _random_model(name)
    shape = _input_shape(name)
    graph = build_graph(model, shape, name=name, fallback=False)
    spatial = []
    for node in graph.order:
        a = graph.node(node)
        if not (isinstance(a.get("shape"), list) and len(a["shape"]) == 4):
            continue
        size, stride, offset = a["receptive_field"], a["effective_stride"], a["rf_offset"]
        if size is None:  # only where no input path reaches (a reshaped parameter)
            assert all(graph.node(p).get("receptive_field") is None for p in graph.graph.pred[node])
            continue
        grows = "grows" in a.get("rf_note", "")  # upsampling: stride 0, every unit sees it all
        assert all(v >= 1 for v in size) and all(v >= (0 if grows else 1) for v in stride), node
        assert all(v <= 0 for v in offset), node
        for p in graph.graph.pred[node]:  # a field only grows along the graph
            before = graph.node(p).get("receptive_field")
            assert before is None or all(size[i] >= before[i] for i in (0, 1)), (p, node)
        if not a.get("aux"):
            spatial.append(node)
    last = graph.node(spatial[-1])
    box = unit_box(last, last["shape"][2] - 1, last["shape"][3] - 1, shape[2:])
    assert box.clipped is not None and box.size == tuple(last["receptive_field"])

    result = attribute(model, torch.randn(shape), "gradcam", graph=graph)
    assert result.values.shape == shape[2:]
    assert tuple(result.raw_shape) == tuple(graph.node(result.node)["shape"][2:])
    assert np.isfinite(result.values).all()
