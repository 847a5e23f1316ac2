"""How a unit computes (issue 21): every layer kind in the zoo explains a unit from the live
tensors, and the value recomputed from its terms equals the model's own value.

One test per model and weights (random; the shipped Fashion-MNIST weights where a small
form has them): it steps the model node by node, and at the first node of every layer kind
(and of every convolution variant: strided, padded, dilated, grouped, depthwise, 1x1)
explains two units, the channel's strongest and a corner (where the padding is). Every
node's kind must have an explainer, and the kinds explained must be the kinds present:
none is skipped, in any model, so none across the zoo.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explorer.activations.preprocess import preprocess
from explorer.activations.samples import load_sample
from explorer.activations.stepper import Stepper
from explorer.explain.units import (
    KINDS,
    ConvDetail,
    UnitArithmetic,
    UnitError,
    describe,
    explain_call,
    explain_unit,
    explainer_for,
    unit_arithmetic,
)
from explorer.loading import load_model
from explorer.models import get_model, get_model_info, list_models
from explorer.models.shipped import shipped_entry

SMALL = list_models(form="small")
# Reference forms cheap enough to step whole: LeNets at their own size, and torchvision's
# builds (in-place ReLUs, functional relu/pool/flatten) at a reduced input.
REFERENCE = {"lenet5": None, "lenet": None, "resnet18": 64, "densenet121": 64, "mobilenet_v2": 64,
             "googlenet_tv": 64}
CASES = ([(name, "random") for name in SMALL]
         + [(name, "shipped") for name in SMALL if shipped_entry(name) is not None]
         + [(name, "random") for name in REFERENCE])


def _variant(call) -> tuple:
    """What makes two nodes of one kind worth a unit each (convolution variants)."""
    module = call.module
    if isinstance(module, nn.Conv2d):
        per_group = module.in_channels // module.groups
        return (module.stride != (1, 1), module.padding not in ((0, 0), "valid"), module.dilation != (1, 1),
                module.groups > 1 and per_group > 1, module.groups > 1 and per_group == 1,
                module.kernel_size == (1, 1))
    out = call.output
    return (out.dim(),) if isinstance(out, torch.Tensor) else ()


def _units(output: torch.Tensor) -> list[tuple[int, tuple[int, int] | None]]:
    channels = output.shape[1]
    if output.dim() == 4:
        return [(channels - 1, None), (0, (0, 0))]
    return [(channels - 1, None), (0, None)]


def _model(name: str, weights: str) -> tuple[nn.Module, torch.Tensor, tuple[int, ...]]:
    info = get_model_info(name)
    if weights == "shipped":
        loaded = load_model(name)  # the default: the shipped weights of a small form
        assert loaded.weights.kind == "shipped", loaded.notice
        image = load_sample().image
        return loaded.module, preprocess(image, info).tensor, tuple(info.input_shape)
    torch.manual_seed(len(name))
    model = get_model(name).eval()
    with torch.no_grad():  # fresh batch norms are the identity: give them statistics to show
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    size = REFERENCE.get(name)
    shape = (1, info.in_channels, size, size) if size else tuple(info.input_shape)
    return model, torch.randn(shape), shape


@pytest.mark.parametrize(("name", "weights"), CASES, ids=[f"{n}-{w}" for n, w in CASES])
def test_every_layer_kind_recomputes_the_models_value(name, weights):
    model, tensor, shape = _model(name, weights)
    stepper = Stepper(model, "cpu", input_shape=shape)
    stepper.set_input(tensor)
    present, explained, seen = set(), set(), set()
    for index in range(len(stepper)):
        record = stepper.run_to(index)
        call = stepper.call_at()
        present.add(record.kind)
        assert explainer_for(call) is not None, f"{record.title}: no explainer for {record.kind}"
        key = (record.kind, _variant(call))
        if key in seen:
            continue
        seen.add(key)
        for channel, at in _units(call.output):
            result = explain_call(call, stepper.nodes, channel, at)
            assert result.explained and result.matches, "\n".join(describe(result))
            assert result.kind in KINDS and result.terms and result.formula
            assert isinstance(result.notes, tuple) and all(len(note) > 20 for note in result.notes)
        explained.add(record.kind)
    assert explained == present


# ---------------------------------------------------------------- payloads, one kind each

@pytest.fixture(scope="module")
def steppers():
    """Shipped-weights steppers of a few small forms on the sample image, built once."""
    built: dict[str, Stepper] = {}

    def get(name: str) -> Stepper:
        if name not in built:
            model, tensor, shape = _model(name, "shipped")
            built[name] = Stepper(model, "cpu", input_shape=shape)
            built[name].set_input(tensor)
        return built[name]

    return get


def test_lenet5_c3_reads_only_its_connected_maps_then_tanh(steppers):
    from explorer.models.architectures.lenet import C3_CONNECTIONS

    result = explain_unit(steppers("lenet5_small"), "c3", 6, (2, 3))
    d = result.detail
    assert isinstance(d, ConvDetail) and d.connections == C3_CONNECTIONS[6] == d.in_channels
    assert d.patches.shape == (4, 5, 5) and not d.in_padding.any()
    assert [s.label for s in d.after] == ["scaled tanh"] and result.matches
    assert abs(d.after[0].input - d.pre_activation) < 1e-12


def test_lenet5_s2_and_rbf(steppers):
    stepper = steppers("lenet5_small")
    s2 = explain_unit(stepper, "s2", 1, (4, 5))
    assert s2.kind == "subsampling" and s2.detail.rows == (8, 9) and s2.detail.cols == (10, 11)
    assert s2.detail.coefficient is not None and s2.matches
    rbf = explain_unit(stepper, "rbf", 7)
    assert rbf.kind == "rbf" and rbf.detail.centre.shape == (84,) and set(rbf.detail.centre) == {-1.0, 1.0}
    assert abs(rbf.value + rbf.detail.distance) < 1e-12 and rbf.matches


def test_padded_corner_marks_the_zero_padding(steppers):
    result = explain_unit(steppers("lenet5_small"), "c1", 0, (0, 0))  # C1 pads 28x28 by 2
    d = result.detail
    assert d.in_padding[:2].all() and d.in_padding[:, :2].all() and not d.in_padding[2:, 2:].any()
    assert (d.patches[0][d.in_padding] == 0).all() and d.rows[0] == -2 and "padded" in d.variants


def test_residual_add_names_shortcut_and_branch(steppers):
    result = explain_unit(steppers("resnet18_small"), "layer2.0 (add)", 3, (1, 1))
    roles = {role: source for role, source, _ in result.detail.operands}
    assert roles["shortcut"] == "layer2.0.downsample.1" and roles["branch"] == "layer2.0.bn2"
    assert result.value == pytest.approx(sum(v for *_, v in result.detail.operands)) and result.matches


def test_concatenation_follows_the_channel_to_its_branch(steppers):
    stepper = steppers("googlenet_small")
    result = explain_unit(stepper, "inception3a (cat)", 0, (0, 0))
    d = result.detail
    assert d.part == 0 and d.parts == 4 and d.source == "inception3a.branch1.relu" and d.index == (0, 0, 0)
    last = explain_unit(stepper, "inception3a (cat)", sum(d.sizes) - 1, (0, 0))
    assert last.detail.part == 3 and last.detail.index[0] == d.sizes[-1] - 1
    # The source's own arithmetic is one call away and gives the same number.
    there = explain_unit(stepper, last.detail.source_index, *last.detail.index[:1], last.detail.index[1:])
    assert there.model_value == last.model_value and there.matches


def test_depthwise_and_pointwise_and_relu6(steppers):
    stepper = steppers("mobilenet_v2_small")
    depthwise = explain_unit(stepper, "features.2.conv.1.0", 5, (1, 1))
    assert "depthwise" in depthwise.detail.variants and depthwise.detail.in_channels == (5,)
    assert len(depthwise.terms) <= 10 and depthwise.matches
    pointwise = explain_unit(stepper, "features.2.conv.2", 1, (1, 1))
    assert "pointwise" in pointwise.detail.variants and pointwise.terms[0].factors
    relu6 = explain_unit(stepper, "features.2.conv.0.2", 0)
    assert relu6.kind == "relu6" and relu6.detail.clip == (0.0, 6.0) and relu6.matches


def test_lrn_max_pool_dropout_linear_and_softmax(steppers):
    stepper = steppers("alexnet_small")
    lrn = next(r for r in stepper.nodes if r.kind == "LocalResponseNorm")
    result = explain_unit(stepper, lrn.title, 0, (0, 0))
    assert result.detail.channels == (0, 1, 2) and (result.detail.size, result.detail.k) == (5, 2.0)
    pool = next(r for r in stepper.nodes if r.kind == "MaxPool2d")
    result = explain_unit(stepper, pool.title, 2)
    d = result.detail
    assert d.window[d.winner] == result.value == pytest.approx(result.model_value)
    dropout = next(r for r in stepper.nodes if r.kind == "Dropout")
    result = explain_unit(stepper, dropout.title, 1)
    assert result.kind == "dropout" and "evaluation" in result.notes[0] and result.matches
    result = explain_unit(stepper, "fc8", 4)
    assert result.kind == "linear" and len(result.detail.top) == 8 and result.matches
    assert result.detail.rest_count == result.detail.inputs.size - 8
    result = explain_unit(stepper, "output", 4)
    assert result.kind == "softmax" and result.detail.probabilities.sum() == pytest.approx(1.0)
    assert result.value == pytest.approx(result.model_value, rel=1e-5)


def test_batch_norm_and_global_average_pool(steppers):
    stepper = steppers("resnet18_small")
    result = explain_unit(stepper, "layer1.0.bn1", 2, (3, 4))
    d = result.detail
    assert result.kind == "batch_norm" and d.eps > 0 and d.running_var > 0 and result.matches
    pool = next(r for r in stepper.nodes if r.kind == "AdaptiveAvgPool2d")
    result = explain_unit(stepper, pool.title, 7)
    assert result.detail.op == "global average" and result.matches


# ----------------------------------------------------------- convolutions that are rare

class OddConvs(nn.Module):
    """Convolutions the zoo has few of or none: dilated, grouped, 'same', reflect padding."""

    def __init__(self) -> None:
        super().__init__()
        self.dilated = nn.Conv2d(4, 6, 3, padding=2, dilation=2)
        self.grouped = nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=3)
        self.same = nn.Conv2d(6, 4, 4, padding="same", bias=False)
        self.reflect = nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)
        self.gelu = nn.GELU()

    def forward(self, x):
        x = self.relu(self.grouped(self.dilated(x)))
        return self.gelu(self.pool(self.reflect(self.same(x))))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_dilated_grouped_same_reflect_and_unexplained_layers():
    torch.manual_seed(0)
    stepper = Stepper(OddConvs().eval(), "cpu")
    stepper.set_input(torch.randn(1, 4, 9, 9))
    stepper.run_to_end()
    for node, channel in (("dilated", 5), ("grouped", 5), ("same", 3), ("reflect", 1), ("relu", 2), ("pool", 1)):
        for at in ((0, 0), None):
            result = explain_unit(stepper, node, channel, at)
            assert result.explained and result.matches, "\n".join(describe(result))
    grouped = explain_unit(stepper, "grouped", 5, (0, 0)).detail
    assert grouped.in_channels == (4, 5) and grouped.group == 2 and {"grouped", "strided"} <= set(grouped.variants)
    assert "dilated" in explain_unit(stepper, "dilated", 0, (0, 0)).detail.variants
    relu = explain_unit(stepper, "relu", 0, (0, 0))  # in place: its input is kept from before
    assert relu.detail.input == pytest.approx(explain_unit(stepper, "grouped", 0, (0, 0)).model_value)
    gelu = explain_unit(stepper, "gelu", 0, (1, 1))
    assert not gelu.explained and gelu.value is None and "not explained" in gelu.formula
    assert gelu.model_value == pytest.approx(float(stepper.output()[0, 0, 1, 1]))


def test_lenet5_c5_pools_a_larger_input_first():
    from explorer.models.architectures.lenet import LeNetConv2d

    torch.manual_seed(0)
    c5 = nn.Sequential(LeNetConv2d(4, 6, 5, pool_to=5, batch_norm=True)).eval()
    with torch.no_grad():
        c5[0].bn.running_var.uniform_(0.5, 2.0)
    result = unit_arithmetic(c5, torch.randn(1, 4, 12, 12), "0", 5)
    assert result.detail.before == "adaptive average pooling 12x12 -> 5x5"
    assert [s.label for s in result.detail.after] == ["batch norm", "scaled tanh"] and result.matches


# --------------------------------------------------------------- speed and the stepper

def test_the_shown_node_is_read_without_running_and_others_replay_in_private(steppers):
    stepper = steppers("resnet18_small")
    stepper.run_to("layer3.1.conv2")
    position, live = stepper.position, stepper.live_values
    here = explain_unit(stepper, None, 9, (2, 2))
    there = explain_unit(stepper, "layer1.0.conv1", 9, (2, 2))  # behind: replayed in private
    assert stepper.position == position and stepper.live_values == live
    assert here.node == "layer3.1.conv2" and there.node == "layer1.0.conv1" and here.matches and there.matches
    assert explain_unit(stepper, None, 9, (2, 2)).value == here.value


def test_without_a_position_the_unit_is_the_channels_strongest(steppers):
    stepper = steppers("lenet5_small")
    stepper.run_to("c1")
    maps = stepper.activation()[0, 4]
    result = explain_unit(stepper, None, 4)
    assert result.position == divmod(int(maps.argmax()), maps.shape[1])
    assert result.model_value == float(maps.max())


def test_a_knockout_is_said_where_it_changes_the_output():
    from explorer.activations.knockouts import NodeKnockout

    model, tensor, shape = _model("resnet18_small", "random")
    stepper = Stepper(model, "cpu", input_shape=shape)
    stepper.set_knockouts([NodeKnockout("channel", "layer1.0.conv1", 3)])
    stepper.set_input(tensor)
    stepper.run_to("layer1.0.conv1")
    result = explain_unit(stepper, None, 3, (2, 2))
    assert not result.matches and result.model_value == 0.0 and "knockout" in result.notes[-1]
    assert explain_unit(stepper, None, 4, (2, 2)).matches
    # A dense layer's input group given zeros: the concatenation copies the zeros, and says why.
    model, tensor, shape = _model("densenet121_small", "random")
    stepper = Stepper(model, "cpu", input_shape=shape)
    stepper.set_knockouts([NodeKnockout("dense_group", "features.denseblock1.denselayer2", 0)])
    stepper.set_input(tensor)
    stepper.run_to("features.denseblock1.denselayer2 (cat)")
    result = explain_unit(stepper, None, 0, (1, 1))
    assert result.value == result.model_value == 0.0 and result.matches
    assert result.notes[-1] == "a knockout gives this node zeros instead of features.pool0"


# ------------------------------------------------------------------------------ errors

@pytest.mark.parametrize(("node", "channel", "at", "message"), [
    ("c3", 16, None, "channel 16 is outside c3's 16 channels: 0..15"),
    ("c3", 0, (10, 0), "unit (10, 0) is outside c3's 10x10 map: y 0..9, x 0..9"),
    ("f6", 84, None, "index 84 is outside f6's 84 values: 0..83"),
    ("f6", 0, (0, 0), "f6 outputs a vector of 84 values (0..83), not a map"),
    ("c9", 0, None, "no node named 'c9': give one of the 9 nodes' titles (input, c1, s2, c3, s4, c5, f6"),
])
def test_a_unit_that_is_not_there_names_the_valid_range(node, channel, at, message):
    model = get_model("lenet5_small")
    with pytest.raises(UnitError) as raised:
        unit_arithmetic(model, torch.zeros(1, 1, 28, 28), node, channel, at)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_as_dict_is_json(steppers):
    import json

    result = explain_unit(steppers("lenet5_small"), "c1", 2, (5, 5))
    assert isinstance(result, UnitArithmetic)
    payload = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert payload["kind"] == "lenet_conv" and payload["matches"] and len(payload["detail"]["patches"][0]) == 5
