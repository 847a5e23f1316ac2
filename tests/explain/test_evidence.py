"""The window's one-call class-evidence map."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explorer.activations.images import LoadedImage
from explorer.errors import UserError
from explorer.explain.evidence import explain_image
from explorer.models import get_model

MODEL = "resnet18_small"


def _image() -> LoadedImage:
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[8:20, 10:18] = 200
    return LoadedImage(Image.fromarray(pixels, "L"), (), "test", (28, 28), "PNG")


def test_gradcam_at_a_conv_node_and_fallback_from_a_node_without_a_module():
    model = get_model(MODEL)
    at_node = explain_image(model, MODEL, _image(), "gradcam", node="layer2_0_conv1")
    assert at_node.attribution.layer == "layer2.0.conv1" and at_node.note == ""
    assert at_node.attribution.values.shape == (28, 28) and at_node.display.shape[:2] == (28, 28)
    fallback = explain_image(model, MODEL, _image(), "gradcam", node="flatten")
    assert fallback.note.startswith("not at flatten") and fallback.attribution.layer in fallback.note


def test_target_class_is_explained_and_out_of_range_is_a_user_error():
    model = get_model(MODEL)
    evidence = explain_image(model, MODEL, _image(), "saliency", target=3)
    assert evidence.attribution.target == 3 and "Dress" in evidence.attribution.caption
    with pytest.raises(UserError, match="out of range"):
        explain_image(model, MODEL, _image(), "gradcam", target=12, node="layer2_0_conv1")


def test_a_map_that_is_zero_everywhere_says_so():
    """The shipped ResNet-18's Grad-CAM at layer3 is negative everywhere for the sample boot,
    so its positive part is blank: the note says why rather than leaving a plain picture."""
    from explorer.activations.samples import load_sample
    from explorer.models.shipped import load_shipped

    model = get_model(MODEL)
    load_shipped(model, MODEL)
    blank = explain_image(model, MODEL, load_sample(), "gradcam", node="layer3_1_relu2")
    assert not (blank.attribution.values > 0).any()
    assert "zero everywhere" in blank.note and "layer3" in blank.note and "another node" in blank.note
    shown = explain_image(model, MODEL, load_sample(), "gradcam", node="layer2_1_relu2")
    assert (shown.attribution.values > 0).any() and "zero everywhere" not in shown.note
