"""The stepper equals an eager forward pass, copies what it shows, and frees what it can."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
import torchvision
from torch import fx, nn

from explorer.errors import UserError
from explorer.activations.stepper import Stepper, StepperError
from explorer.models import get_model, list_models


def _eager(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


class InplaceNet(nn.Module):
    """Conv -> BN -> in-place ReLU, a residual add and a functional in-place op."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        y = self.relu(self.bn(self.conv(x)))
        z = self.conv2(y)
        z += y
        z = torch.nn.functional.relu(z, inplace=True)
        return self.head(z.mean((2, 3)))


def _randomise_bn(model: nn.Module) -> None:
    # Fresh BN layers are the identity in eval mode; give them statistics so BN outputs
    # have negative values for the in-place ReLU to destroy.
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


SMALL_ZOO = [n for n in ("lenet5_small", "googlenet_small", "resnet18_small", "mobilenet_v2_small",
                         "densenet121_small") if n in list_models()]


@pytest.mark.parametrize(
    "build, shape",
    [
        (InplaceNet, (1, 3, 16, 16)),
        (lambda: torchvision.models.resnet18(num_classes=10), (1, 3, 64, 64)),
        (lambda: torchvision.models.mobilenet_v2(num_classes=10), (1, 3, 64, 64)),
    ],
    ids=["inplace-net", "tv-resnet18", "tv-mobilenet_v2"],
)
def test_stepping_to_the_end_equals_eager(build, shape):
    torch.manual_seed(0)
    model = build()
    _randomise_bn(model)
    x = torch.randn(shape)
    expected = _eager(model, x)
    stepper = Stepper(model, "cpu")
    stepper.set_input(x)
    stepper.run_to_end()
    assert stepper.at_end
    torch.testing.assert_close(stepper.output(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", SMALL_ZOO)
def test_zoo_small_models_step_like_eager(name):
    torch.manual_seed(0)
    model = get_model(name)
    from explorer.models import get_model_info

    x = torch.randn(get_model_info(name).input_shape)
    expected = _eager(model, x)
    stepper = Stepper(model, "cpu")
    stepper.set_input(x)
    # Step node by node, as the GUI does, not in one call.
    while not stepper.at_end:
        stepper.step_forward()
    torch.testing.assert_close(stepper.output(), expected, rtol=1e-5, atol=1e-5)


def test_node_names_are_the_plain_fx_trace_names():
    model = torchvision.models.resnet18()
    names = [n.name for n in fx.symbolic_trace(torchvision.models.resnet18().eval()).graph.nodes]
    stepper = Stepper(model, "cpu")
    assert [r.name for r in stepper.nodes] == names
    conv = stepper.nodes[stepper.index_of("layer1_0_conv1")]
    assert conv.module_path == "layer1.0.conv1" and conv.kind == "Conv2d"
    add = next(r for r in stepper.nodes if r.name == "add")
    assert add.module_path == "layer1.0"  # the residual add happens inside block layer1.0


def test_captured_activation_survives_in_place_relu():
    model = torchvision.models.resnet18(num_classes=10)
    _randomise_bn(model)
    x = torch.randn(1, 3, 64, 64)
    # What an eager hook that keeps a reference sees: the ReLU overwrote it.
    kept = {}
    handle = model.bn1.register_forward_hook(lambda m, i, o: kept.setdefault("bn1", o))
    _eager(model, x)
    handle.remove()
    assert kept["bn1"].min() >= 0.0

    stepper = Stepper(model, "cpu")
    stepper.set_input(x)
    stepper.run_to("bn1")
    captured = stepper.activation()
    stepper.step_forward()  # relu(inplace=True) on the same storage
    assert stepper.current.name == "relu"
    assert captured.min() < 0.0  # the copy still holds the batch-norm output
    with torch.no_grad():
        expected = model.bn1(model.conv1(x))
    torch.testing.assert_close(captured, expected)
    assert stepper.activation().min() >= 0.0


def test_step_back_replays_to_the_previous_node():
    torch.manual_seed(0)
    model = InplaceNet()
    _randomise_bn(model)
    x = torch.randn(1, 3, 16, 16)
    stepper = Stepper(model, "cpu")
    stepper.set_input(x)
    stepper.run_to("bn")
    at_bn = stepper.activation()
    stepper.step_forward()
    stepper.step_forward()
    assert stepper.current.name == "conv2"
    stepper.step_back()
    stepper.step_back()
    assert stepper.current.name == "bn"
    torch.testing.assert_close(stepper.activation(), at_bn)
    assert stepper.activation().min() < 0  # replayed before the in-place ReLU again
    stepper.reset()
    assert stepper.position == 0 and stepper.current.op == "placeholder"
    stepper.step_back()  # stays at the input
    assert stepper.position == 0


def test_run_to_accepts_names_modules_and_indices():
    stepper = Stepper(torchvision.models.resnet18(), "cpu")
    stepper.set_input(torch.randn(1, 3, 32, 32))
    record = stepper.run_to("layer1")  # a block: its last node
    assert record.module_path.startswith("layer1.") and record.name == "layer1_1_relu_1"
    assert stepper.run_to(3).index == 3
    assert stepper.run_to(-1).op == "output"
    with pytest.raises(StepperError, match="no node or module named 'nope'"):
        stepper.run_to("nope")
    with pytest.raises(UserError):
        stepper.run_to(10_000)


def test_steps_to_yields_every_node_and_can_stop_early():
    model = InplaceNet()
    x = torch.randn(1, 3, 16, 16)
    stepper = Stepper(model, "cpu")
    stepper.set_input(x)
    assert list(stepper.steps_to(4)) == [1, 2, 3, 4]
    generator = stepper.steps_to(len(stepper) - 1)
    next(generator)
    generator.close()  # a worker stopping between nodes
    assert stepper.position == 5
    stepper.run_to_end()
    torch.testing.assert_close(stepper.output(), _eager(model, x))
    # A target behind the position replays from the input.
    assert list(stepper.steps_to(2)) == [0, 1, 2]


def test_values_are_freed_after_their_last_reader():
    model = torchvision.models.resnet18(num_classes=10)
    stepper = Stepper(model, "cpu")
    stepper.set_input(torch.randn(1, 3, 64, 64))
    stepper.run_to("conv1")
    conv1_out = weakref.ref(stepper._last_value)
    peak = 0
    for _ in stepper.steps_to(len(stepper) - 1):
        peak = max(peak, stepper.live_values)
    gc.collect()
    assert conv1_out() is None  # gone from the device once bn1 had read it
    assert peak <= 3  # a residual network needs the block input and the branch
    assert stepper.live_values == 1  # only the model output


def test_stepping_needs_an_input_and_a_traceable_model():
    stepper = Stepper(InplaceNet(), "cpu")
    with pytest.raises(StepperError, match="no input image"):
        stepper.step_forward()

    class DataDependent(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x
            return -x

    with pytest.raises(StepperError, match="could not trace"):
        Stepper(DataDependent(), "cpu")


def test_shapes_are_recorded_and_device_switch_replays():
    stepper = Stepper(torchvision.models.resnet18(num_classes=10), "cpu")
    stepper.set_input(torch.randn(1, 3, 64, 64))
    stepper.run_to("layer2")
    assert stepper.shapes[stepper.index_of("conv1")] == (1, 64, 32, 32)
    before = stepper.activation()
    position = stepper.position
    stepper.set_device("cpu")  # same device: nothing to do
    torch.testing.assert_close(stepper.activation(), before)
    stepper.set_device("cpu:0")  # another device object: moves and replays to the node
    assert stepper.device == torch.device("cpu:0") and stepper.position == position
    torch.testing.assert_close(stepper.activation(), before)


def test_a_failing_node_is_named_in_one_line():
    stepper = Stepper(InplaceNet(), "cpu")
    stepper.set_input(torch.randn(1, 1, 8, 8))  # the model wants 3 channels
    with pytest.raises(StepperError) as exc:
        stepper.run_to_end()
    text = str(exc.value)
    assert text.startswith("node conv (Conv2d) failed: ") and "\n" not in text
    assert stepper.position == 0  # still at the input, nothing half-done
