"""Every registered model, through the registry: forward, fx trace, parameter counts."""

from __future__ import annotations

import collections
import operator

import pytest
import torch
from torch import fx

from explorer.models import (
    ModelError,
    count_parameters,
    get_model,
    get_model_info,
    list_models,
    meta_model,
)

ALL = list_models()
REFERENCE = list_models(form="reference")
SMALL = list_models(form="small")
# Real CPU builds of these allocate 130-145 M parameters: seconds each.
BIG = {"vgg11", "vgg13", "vgg16", "vgg19"}
# These flatten straight into FC 9216, so they only take their own input size.
FIXED_INPUT = {"lenet5", "lenet", "alexnet", "alexnet_split"}


def _param(name: str):
    return pytest.param(name, marks=pytest.mark.slow) if name in BIG else name


def _numeric_check_shape(name: str) -> tuple[int, int, int, int]:
    """Input for the real-valued eager/fx comparison: ImageNet models at 96x96 to save time.

    Their adaptive pooling makes 96x96 a full forward through every layer (d2l trains
    these networks at 96x96); the input-shape forward itself is checked on meta.
    """
    info = get_model_info(name)
    if info.form == "reference" and name not in FIXED_INPUT:
        return (1, info.in_channels, 96, 96)
    return info.input_shape


def test_zoo_has_every_model_of_the_brief():
    expected = {
        "lenet5", "lenet", "alexnet", "alexnet_split", "alexnet_tv", "vgg11", "vgg13", "vgg16",
        "vgg19", "nin", "googlenet", "googlenet_tv", "inception_v2", "inception_v3",
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121",
        "densenet169", "densenet201", "mobilenet_v1", "mobilenet_v2",
        "lenet_small", "resnet18_small", "googlenet_small",
    }  # fmt: skip
    assert expected <= set(ALL)
    families = [get_model_info(n).family for n in ALL]
    assert list(dict.fromkeys(families)) == [
        "LeNet", "AlexNet", "NiN", "VGG", "GoogLeNet", "Inception", "ResNet", "DenseNet", "MobileNet",
    ]  # fmt: skip
    # Every family has at least one small form.
    assert set(families) == {get_model_info(n).family for n in SMALL}


@pytest.mark.parametrize("name", ALL)
def test_forward_on_its_input_shape(name):
    info = get_model_info(name)
    model = meta_model(name).eval()
    assert model(torch.empty(info.input_shape, device="meta")).shape == (1, info.num_classes)


@pytest.mark.parametrize("name", [_param(n) for n in ALL])
def test_fx_trace_matches_eager(name):
    info = get_model_info(name)
    torch.manual_seed(0)
    model = get_model(name).eval()
    x = torch.randn(_numeric_check_shape(name))
    with torch.no_grad():
        eager = model(x)
        # Trace in eval(): models with aux heads return them only in training.
        traced = fx.symbolic_trace(model)(x)
    assert eager.shape == (1, info.num_classes)
    assert torch.isfinite(eager).all() and eager.std() > 0
    assert torch.allclose(eager, traced, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", [n for n in REFERENCE if get_model_info(n).reference_params])
def test_reference_parameter_count_is_exact(name):
    info = get_model_info(name)
    assert count_parameters(meta_model(name)) == info.reference_params


@pytest.mark.parametrize("name", ALL)
def test_metadata_is_complete(name):
    info = get_model_info(name)
    assert info.name == name
    assert len(info.description) > 200 and info.title and info.paper
    assert 1998 <= info.year <= 2018
    if info.form == "small":
        assert info.small_of in REFERENCE
        assert get_model_info(info.small_of).family == info.family
        assert (info.in_channels, info.num_classes) == (1, 10)
        assert info.normalization == "fashion_mnist"
        assert "num_classes" in info.options and "dropout" in info.options
    if info.variant_of is not None:
        assert info.variant_of in REFERENCE
    if info.weights is not None:
        import torchvision

        assert torchvision.models.get_weight(info.weights) is not None


@pytest.mark.parametrize("name", SMALL)
def test_small_forms_options_and_other_input_sizes(name):
    info = get_model_info(name)
    kwargs = {"num_classes": 7}
    if "width_mult" in info.options:
        kwargs["width_mult"] = 0.5
    if "batch_norm" in info.options:
        kwargs["batch_norm"] = True
    model = get_model(name, **kwargs).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 7)
        # A user's resize: adaptive pooling before the classifier takes a bigger grid.
        assert model(torch.randn(1, 1, 40, 40)).shape == (1, 7)
    if "width_mult" in info.options:
        narrow = count_parameters(meta_model(name, width_mult=0.5))
        assert narrow < count_parameters(meta_model(name))


@pytest.mark.parametrize("name", SMALL)
def test_small_forms_train_one_step(name):
    torch.manual_seed(0)
    model = get_model(name).train()
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    out = model(x)
    logits = out[0] if isinstance(out, tuple) else out
    loss = torch.nn.functional.cross_entropy(logits, y)
    if isinstance(out, tuple):
        loss = loss + 0.3 * sum(torch.nn.functional.cross_entropy(aux, y) for aux in out[1:])
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", [n for n in ALL if get_model_info(n).aux_heads])
def test_aux_heads_only_in_training(name):
    info = get_model_info(name)
    model = meta_model(name)
    x = torch.empty((2, *info.input_shape[1:]), device="meta")
    out = model.train()(x)
    assert isinstance(out, tuple) and len(out) == 1 + info.aux_heads
    assert all(o.shape == (2, info.num_classes) for o in out)
    assert isinstance(model.eval()(x), torch.Tensor)


def test_googlenet_small_can_drop_its_aux_heads():
    model = get_model("googlenet_small", aux_logits=False).train()
    assert isinstance(model(torch.randn(2, 1, 28, 28)), torch.Tensor)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("resnet18_small", {"width_mult": 0}, "width_mult must be positive"),
        ("vgg11_small", {"dropout": 1.5}, "dropout must be in [0, 1)"),
        ("lenet_small", {"num_classes": 0}, "num_classes must be at least 1"),
        ("lenet5_small", {"num_classes": 12}, "num_classes must be 1-10"),
        ("resnet18_small", {"batch_norm": False}, "unexpected keyword argument"),
        ("inception_v3_small", {"width_mult": 0.7}, "width_mult must be 0.5, 1 or 2"),
    ],
)
def test_bad_options_are_user_errors(name, kwargs, message):
    with pytest.raises(ModelError) as excinfo:
        get_model(name, **kwargs)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_unknown_model_is_a_user_error():
    with pytest.raises(ModelError, match="unknown model 'resnet9'"):
        get_model("resnet9")


# ---- small forms keep the reference topology ----------------------------------------

STRUCTURAL_MODULES = {
    "Conv2d", "Linear", "Inception", "InceptionAux", "BNInception", "BasicBlock", "Bottleneck",
    "_DenseLayer", "_Transition", "DepthwiseSeparable", "InvertedResidual", "LocalResponseNorm",
    "ConnectionTableConv2d", "Subsampling", "EuclideanRBF",
}  # fmt: skip


def _topology(name: str) -> collections.Counter:
    """Counts of structural modules, and of residual adds and concatenations in the trace."""
    model = meta_model(name)
    counts = collections.Counter(
        type(m).__name__ for m in model.modules() if type(m).__name__ in STRUCTURAL_MODULES
    )
    for node in fx.symbolic_trace(model.eval()).graph.nodes:
        if node.op == "call_function" and node.target in (operator.add, operator.iadd, torch.add):
            counts["add"] += 1
        if node.op == "call_function" and node.target is torch.cat:
            counts["cat"] += 1
    return counts


@pytest.mark.parametrize("name", SMALL)
def test_small_form_mirrors_reference_topology(name):
    reference = get_model_info(name).small_of
    assert _topology(name) == _topology(reference)


def test_every_reference_architecture_has_a_small_form():
    """ARCHITECTURES.md: each architecture exists in a reference and a small form."""
    small_of = {get_model_info(n).small_of for n in list_models(form="small")}
    missing = [
        name for name in list_models(form="reference")
        if get_model_info(name).variant_of is None and name not in small_of
    ]
    assert missing == []
