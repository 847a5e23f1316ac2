"""The knockout lab: each kind zeroes what it says, undo restores, weights stay untouched."""

from __future__ import annotations

import contextlib

import pytest
import torch

from explorer.explain.knockout import AUX_NOTE, SPEC_FORMS, KnockoutError, KnockoutLab
from explorer.graph import build_graph
from explorer.models import get_model, get_model_info

from .conftest import TRAINED_MODEL, batch


def _lab(name: str) -> tuple[KnockoutLab, torch.Tensor]:
    torch.manual_seed(0)
    model = get_model(name).eval()
    info = get_model_info(name)
    return KnockoutLab(model, build_graph(model, info.input_shape, name=name)), torch.randn(2, *info.input_shape[1:])


def _output_of(model, path, x, lab=None):
    """A module's output, with ``lab``'s knockouts applied (their hooks run first)."""
    seen = {}
    with lab.applied() if lab else contextlib.nullcontext(), torch.no_grad():
        handle = model.get_submodule(path).register_forward_hook(
            lambda _m, _i, out: seen.setdefault("out", out.clone()))
        model(x)
        handle.remove()
    return seen["out"]


def test_identity_shortcut_leaves_only_the_residual_path():
    lab, x = _lab("resnet18_small")
    block = lab.model.layer1[0]
    knockout = lab.add("layer1.0:shortcut")
    assert knockout.kind == "shortcut" and knockout.block == "layer1.0"
    block_in = _output_of(lab.model, "maxpool", x)
    with torch.no_grad():
        expected = torch.relu(block.bn2(block.conv2(block.relu1(block.bn1(block.conv1(block_in))))))
    torch.testing.assert_close(_output_of(lab.model, "layer1.0", x, lab), expected)


def test_projection_shortcut_and_channel_are_zeroed():
    lab, x = _lab("resnet18_small")
    assert lab.add("layer2.0:shortcut").module == "layer2.0.downsample"
    assert (_output_of(lab.model, "layer2.0.downsample", x, lab) == 0).all()
    lab.undo()
    lab.add("layer1.0.conv1:3")
    out = _output_of(lab.model, "layer1.0.conv1", x, lab)
    assert (out[:, 3] == 0).all() and (out[:, 2] != 0).any()


def test_branch_dense_group_and_aux_head():
    lab, x = _lab("googlenet_small")
    lab.add("inception3a.branch2")
    branch = _output_of(lab.model, "inception3a.branch2", x, lab)
    out = _output_of(lab.model, "inception3a", x, lab)
    first = lab.model.inception3a.branch1
    start = _output_of(lab.model, "inception3a.branch1", x).shape[1]
    assert first is not None and (out[:, start:start + branch.shape[1]] == 0).all()
    aux = lab.add("aux1")
    assert aux.kind == "aux_head" and aux.note == AUX_NOTE

    lab, x = _lab("densenet121_small")
    knockout = lab.add("denseblock1.denselayer3:group2")
    assert knockout.module == "features.denseblock1.denselayer3" and knockout.index == 2
    layer = lab.model.features.denseblock1.denselayer3
    seen = {}
    handle = layer.norm1.register_forward_hook(lambda _m, args, _o: seen.setdefault("in", args[0].clone()))
    lab.logits(x)
    handle.remove()
    grown = layer.norm1.num_features - 2 * lab.model.features.denseblock1.denselayer1.conv2.out_channels
    group2 = seen["in"][:, grown + lab.model.features.denseblock1.denselayer1.conv2.out_channels:]
    assert (group2 == 0).all() and (seen["in"][:, :grown] != 0).any()


def test_undo_restores_and_weights_never_change():
    lab, x = _lab("resnet18_small")
    before = {k: v.clone() for k, v in lab.model.state_dict().items()}
    intact = lab.logits(x)
    lab.add("layer1.0:shortcut")
    lab.add("conv1:0")
    changed = lab.logits(x)
    assert not torch.equal(changed, intact)
    assert all(torch.equal(v, before[k]) for k, v in lab.model.state_dict().items())
    assert lab.undo().spec == "conv1:0"
    lab.remove("layer1.0:shortcut")
    assert lab.knockouts == [] and torch.equal(lab.logits(x), intact)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in lab.model.modules())


@pytest.mark.parametrize("spec, why", [
    ("nope", "no module"), ("layer1.0.conv1:999", "16 channels"), ("layer1:group1", "input groups"),
    ("layer1.0.conv1", "neither a branch"), ("layer1.0:shortcut2", "not a channel number"),
    ("conv1:shortcut", "no residual"),
])
def test_bad_specs_list_the_valid_forms(spec, why):
    lab, _ = _lab("resnet18_small")
    with pytest.raises(KnockoutError, match=why) as info:
        lab.add(spec)
    message = str(info.value)
    assert "\n" not in message and all(form in message for form in SPEC_FORMS)


def test_knocking_out_every_channel_of_a_trained_layer_costs_accuracy(trained, tiny_data):
    model, _ = trained
    lab = KnockoutLab(model, build_graph(model, (1, 1, 28, 28)))
    x, labels = batch(TRAINED_MODEL, tiny_data.test_images), tiny_data.test_labels

    def batches():
        yield x, labels

    intact = lab.accuracy(batches, knocked_out=False)
    first_conv = next(n for n in lab.graph.order if lab.graph.node(n)["category"] == "conv")
    channels = lab.graph.node(first_conv)["shape"][1]
    lab.add(f"{lab.graph.node(first_conv)['module_path']}:0")
    one = lab.accuracy(batches)
    for c in range(1, channels):
        lab.add(f"{lab.graph.node(first_conv)['module_path']}:{c}")
    assert intact > 0.9 and one > 0.5 and lab.accuracy(batches) < 0.3


def test_a_knockout_never_overwrites_a_tensor_another_path_reads():
    from torch import nn

    class Fork(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.branch = nn.Identity()  # hands its input on: zeroing it in place would
            self.other = nn.Conv2d(2, 2, 1)  # also zero what `other` reads

        def forward(self, x):
            y = self.conv(x)
            return torch.cat([self.branch(y), self.other(y)], 1).flatten(1)

    model = Fork().eval()
    lab = KnockoutLab(model, build_graph(model, (1, 1, 4, 4)))
    x = torch.randn(1, 1, 4, 4)
    intact = lab.logits(x, knocked_out=False)
    lab.add("branch")
    out = lab.logits(x)
    assert (out[:, :32] == 0).all() and torch.equal(out[:, 32:], intact[:, 32:])
