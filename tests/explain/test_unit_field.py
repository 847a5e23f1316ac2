"""The tracer's one-call answer: theoretical box, effective field and upstream regions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explorer.activations.images import LoadedImage
from explorer.errors import UserError
from explorer.explain.unit_field import region_in, trace_unit
from explorer.graph import build_named_graph
from explorer.graph.receptive_field import unit_box
from explorer.models import get_model

MODEL = "resnet18_small"


def _image() -> LoadedImage:
    pixels = (np.arange(28 * 28).reshape(28, 28) % 251).astype(np.uint8)
    return LoadedImage(Image.fromarray(pixels, "L"), (), "test", (28, 28), "PNG")


def test_box_matches_unit_box_and_the_effective_field_lies_inside_it():
    model = get_model(MODEL)
    field = trace_unit(model, MODEL, _image(), "layer2_0_conv1", 3, 0)
    graph = build_named_graph(MODEL)
    assert field.box == unit_box(graph.node("layer2_0_conv1"), 3, 0, (28, 28))
    assert field.box.padding[1] > 0  # column 0 reaches into the left padding
    assert field.erf is not None and field.erf.shape == (28, 28)
    top, left, bottom, right = field.box.clipped
    inside = field.erf[top:bottom + 1, left:right + 1].sum()
    assert field.erf.sum() > 0 and inside == pytest.approx(field.erf.sum())
    # named as every view names the node (issue 19): its module path, not fx's id
    assert "unit (3, 0) of layer2.0.conv1:" in field.summary() and "padding" in field.summary()


def test_upstream_region_is_inside_the_upstream_map_and_none_off_path():
    field = trace_unit(get_model(MODEL), MODEL, _image(), "layer2_0_conv1", 2, 2)
    region = region_in(field, "layer1_0_conv1")
    assert region is not None and region.size[0] > 1
    assert region_in(field, "fc") is None  # downstream: not a region of its input
    assert region_in(field, "layer2_0_conv1") is None


def test_unit_outside_the_map_is_a_user_error():
    with pytest.raises(UserError, match="outside"):
        trace_unit(get_model(MODEL), MODEL, _image(), "layer2_0_conv1", 99, 0)
