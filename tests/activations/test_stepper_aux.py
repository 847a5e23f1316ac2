"""Auxiliary heads are nodes the stepper runs to: on the current image, in eval mode."""

from __future__ import annotations

import pytest
import torch

from explorer.activations import Stepper
from explorer.models import get_model, get_model_info


@pytest.mark.parametrize(("name", "heads"), [("googlenet_small", ["aux1", "aux2"]),
                                             ("inception_v3_small", ["AuxLogits"])])
def test_stepping_to_an_aux_head_runs_it_on_the_current_image(name, heads):
    torch.manual_seed(0)
    model = get_model(name).eval()
    stepper = Stepper(model, "cpu", input_shape=get_model_info(name).input_shape)
    assert [h.path for h in stepper.aux_heads] == heads and stepper.aux_problems == []
    x = torch.randn(1, 1, 28, 28)
    stepper.set_input(x)
    for head in stepper.aux_heads:
        record = stepper.run_to(head.ids["output"])
        assert record.name == f"{head.path}_output" and record.module_path == head.path
        scores = stepper.activation()
        assert scores.shape == (1, 10)  # the head's class scores
        # What the head computes on the value of the node that feeds it, in eval mode.
        stepper.run_to(head.source)
        with torch.no_grad():
            expected = model.get_submodule(head.path)(stepper.activation())
        torch.testing.assert_close(scores, expected)
    # The main line is unchanged: the end is still the model's eval-mode output.
    stepper.run_to_end()
    with torch.no_grad():
        torch.testing.assert_close(stepper.output(), model(x))


def test_an_aux_node_inside_the_head_shows_its_maps():
    model = get_model("googlenet_small").eval()
    stepper = Stepper(model, "cpu", input_shape=(1, 1, 28, 28))
    stepper.set_input(torch.randn(1, 1, 28, 28))
    record = stepper.run_to("aux1_conv_conv")
    assert record.op == "call_module" and record.target == "aux1.conv.conv"
    assert record.kind == "Conv2d"
    assert stepper.activation().dim() == 4
