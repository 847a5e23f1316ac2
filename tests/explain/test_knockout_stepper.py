"""The maps show the knocked-out network: the stepper, running the fx graph node by node,
computes what the knockout lab's hooks compute in eager mode, for every kind of knockout."""

from __future__ import annotations

import pytest
import torch

from explorer.activations import NodeKnockout, Stepper, StepperError
from explorer.explain.knockout import KnockoutError, KnockoutLab, knockouts_for
from explorer.graph import build_graph
from explorer.models import get_model, get_model_info


def _setup(name: str, specs: list[str]):
    torch.manual_seed(0)
    model = get_model(name).eval()
    info = get_model_info(name)
    lab = KnockoutLab(model, build_graph(model, info.input_shape, name=name))
    lab.knockouts = knockouts_for(specs, lab.graph, model)
    stepper = Stepper(model, "cpu", input_shape=info.input_shape)
    x = torch.randn(2, *info.input_shape[1:])
    return lab, stepper, x


def _end(stepper: Stepper) -> torch.Tensor:
    stepper.run_to_end()
    return stepper.output()


def _close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal to 1e-5 of the scores' size (MobileNet v2's initial scores are ~1e-8)."""
    scale = expected.abs().max()
    torch.testing.assert_close(actual / scale, expected / scale, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "spec", "kind"), [
    ("resnet18_small", "layer1.0.conv1:3", "channel"),  # a leaf module
    ("resnet18_small", "layer1.0:shortcut", "shortcut"),  # identity: a block's pre-hook
    ("resnet18_small", "layer2.0:shortcut", "shortcut"),  # projection (layer2.0.downsample)
    ("googlenet_small", "inception3a.branch2", "branch"),
    ("densenet121_small", "denseblock1.denselayer3:group2", "dense_group"),  # a layer's pre-hook
    ("mobilenet_v2_small", "features.3:5", "channel"),  # a container: its residual addition
    ("mobilenet_v2_small", "features.2.conv.1.0:4", "channel"),  # a depthwise conv
])
def test_the_stepper_computes_the_knocked_out_network(name, spec, kind):
    lab, stepper, x = _setup(name, [spec])
    assert [k.kind for k in lab.knockouts] == [kind]
    weights = {k: v.clone() for k, v in lab.model.state_dict().items()}
    stepper.set_input(x)
    intact = _end(stepper)
    _close(intact, lab.logits(x, knocked_out=False))

    assert stepper.set_knockouts(lab.knockouts) and stepper.position == 0
    assert stepper.knockouts == (NodeKnockout.of(lab.knockouts[0]),)
    knocked = _end(stepper)
    expected = lab.logits(x)
    _close(knocked, expected)
    assert (knocked - intact).abs().max() > 1e-3 * intact.abs().max()  # it changes the scores
    _close(stepper.output_for(x), expected)
    assert stepper.at_end  # output_for left the pass where it was
    # Stepping back and forth replays the knocked-out pass; parameters never change.
    stepper.run_to(3)
    _close(_end(stepper), expected)
    assert all(torch.equal(v, weights[k]) for k, v in lab.model.state_dict().items())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in lab.model.modules())

    assert not stepper.set_knockouts(lab.knockouts) and stepper.at_end  # unchanged: no reset
    assert stepper.set_knockouts([]) and stepper.knockouts == ()
    torch.testing.assert_close(_end(stepper), intact, rtol=0, atol=0)


def test_the_maps_show_the_knocked_out_parts():
    lab, stepper, x = _setup("resnet18_small", ["layer1.0.conv1:3", "layer2.0:shortcut"])
    stepper.set_input(x)
    stepper.set_knockouts(lab.knockouts)
    stepper.run_to("layer1.0.conv1")
    conv = stepper.activation()
    assert (conv[:, 3] == 0).all() and (conv[:, 2] != 0).any()
    stepper.run_to("layer2.0.downsample")  # a container: its last node (the BN)
    assert (stepper.activation() == 0).all()
    stepper.run_to("layer2.0")
    assert (stepper.activation() != 0).any()


def test_an_identity_shortcut_adds_zeros_for_the_block_input():
    lab, stepper, x = _setup("resnet18_small", ["layer1.0:shortcut"])
    stepper.set_input(x)
    stepper.run_to("layer1.0.bn2")
    residual = stepper.activation()
    stepper.set_knockouts(lab.knockouts)
    add = next(r for r in stepper.nodes if r.module_path == "layer1.0" and r.kind == "add")
    stepper.run_to(add.index)
    torch.testing.assert_close(stepper.activation(), residual, rtol=0, atol=0)


def test_an_aux_head_knockout_zeroes_the_head_and_leaves_the_inference_output():
    lab, stepper, x = _setup("googlenet_small", ["aux1"])
    assert lab.knockouts[0].kind == "aux_head"
    head = stepper.aux_heads[0]
    stepper.set_input(x)
    stepper.run_to(head.ids["output"])
    assert (stepper.activation() != 0).any()
    intact = _end(stepper)
    stepper.set_knockouts(lab.knockouts)
    stepper.run_to(head.ids["output"])
    assert (stepper.activation() == 0).all()
    # Auxiliary heads run only in training: the eval-mode output is the lab's, unchanged.
    _close(_end(stepper), lab.logits(x))
    torch.testing.assert_close(_end(stepper), intact, rtol=0, atol=0)
    # A stepper that does not run the heads takes the knockout and shows what it showed.
    headless = Stepper(lab.model, "cpu")
    headless.set_input(x)
    assert headless.set_knockouts(lab.knockouts)
    torch.testing.assert_close(_end(headless), intact, rtol=0, atol=0)


def test_a_knockout_the_graph_cannot_take_is_refused_and_the_old_ones_stay():
    lab, stepper, x = _setup("resnet18_small", ["layer1.0.conv1:3"])
    stepper.set_input(x)
    stepper.set_knockouts(lab.knockouts)
    with pytest.raises(StepperError, match="input groups"):
        stepper.set_knockouts([NodeKnockout("dense_group", "layer1.0", 1)])
    with pytest.raises(StepperError, match="no stepped node"):
        stepper.set_knockouts([NodeKnockout("branch", "nowhere")])
    assert stepper.knockouts == (NodeKnockout("channel", "layer1.0.conv1", 3),)
    _close(_end(stepper), lab.logits(x))


def test_knockouts_for_reads_every_spec_once():
    lab, _, _ = _setup("resnet18_small", [])
    found = knockouts_for(["conv1:0", "layer2.0:shortcut", "conv1:0"], lab.graph, lab.model)
    assert [(k.kind, k.module, k.index) for k in found] == [
        ("channel", "conv1", 0), ("shortcut", "layer2.0.downsample", None)]
    with pytest.raises(KnockoutError, match="bad knockout 'nope'"):
        knockouts_for(["conv1:0", "nope"], lab.graph, lab.model)
