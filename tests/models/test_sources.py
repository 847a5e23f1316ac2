"""Sources that are not zoo names: their strings, their facts, loading them, and each bad
input as one line that leaves the previous model shown."""

from __future__ import annotations

import pytest
import torch

from explorer.errors import ModelError
from explorer.loading import available_weights, load_model
from explorer.models import get_model_info
from explorer.models.python_file import UntrustedCode, allow_in_process
from explorer.models.sources import is_file_source, make_source, parse_source
from explorer.weights_choice import WeightsChoice
from tests.models.user_models import tiny_params, write_python_model


@pytest.fixture
def user_net(tmp_path):
    path, state, model = write_python_model(tmp_path)
    allow_in_process(path)
    return path, state, model


def test_source_strings_round_trip_with_their_options(tmp_path):
    source = make_source(str(tmp_path / "net.py"), class_name="Net", model_args='{"width": 4}',
                         input_shape="1x32x32", mean="0.5", std="0.25")
    spec = parse_source(source)
    assert (spec.kind, spec.class_name, spec.args, spec.input_shape) == ("python", "Net", {"width": 4}, (1, 32, 32))
    assert spec.mean == (0.5,) and spec.std == (0.25,) and parse_source(spec.key) == spec
    assert spec.title == "Net (net.py)" and is_file_source(source)
    assert parse_source(str(tmp_path / "a.pt2")).kind == "program"
    assert not is_file_source("resnet50") and not is_file_source("convnext_tiny")


@pytest.mark.parametrize("kwargs, words", [
    (dict(location="net.py"), "name the class"),
    (dict(location="net.py", class_name="Net", model_args="[1]"), "JSON object"),
    (dict(location="net.py", class_name="Net", model_args="{bad"), "not valid JSON"),
    (dict(location="net.py", class_name="Net", input_shape="1x2"), "input size"),
    (dict(location="net.py", class_name="Net", std="0,-1"), "above 0"),
    (dict(location="net.pt2", model_args='{"a": 1}'), "Python file's class only"),
    (dict(location="no_such_model"), "unknown model"),
])
def test_malformed_sources_are_one_line(kwargs, words):
    with pytest.raises(ModelError, match=words) as caught:
        make_source(**kwargs)
    assert "\n" not in str(caught.value)


def test_a_python_class_has_the_facts_a_zoo_model_has(user_net, tmp_path):
    path, _state, _model = user_net
    info = get_model_info(f"{path}:TinyNet")
    assert (info.family, info.title, info.in_channels, tuple(info.input_size)) == ("Your models", "TinyNet (mynet.py)", 1, (28, 28))
    assert info.num_classes == 10 and info.reference_params == tiny_params()
    assert info.classes[7] == "class 7" and info.normalization == "fashion_mnist"
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"thing {i}" for i in range(10)) + "\n")
    named = get_model_info(make_source(str(path), class_name="TinyNet", classes=str(names), mean="0.5", std="0.5"))
    assert named.classes[3] == "thing 3" and named.mean_std == ((0.5,), (0.5,))
    names.write_text("one\ntwo\n")
    with pytest.raises(ModelError, match="2 names for a model with 10 outputs"):
        get_model_info(make_source(str(path), class_name="TinyNet", classes=str(names)))


def test_a_class_that_fails_on_its_input_says_how_to_give_one(user_net):
    path, _state, _model = user_net
    with pytest.raises(ModelError, match="fails on a 3x8x8 input.*--input-size") as caught:
        get_model_info(make_source(str(path), class_name="TinyNet", input_shape="3x8x8"))
    assert "\n" not in str(caught.value)


def test_an_untrusted_file_is_not_run(tmp_path):
    path, _state, _model = write_python_model(tmp_path)
    marker = tmp_path / "ran"
    path.write_text(path.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    with pytest.raises(UntrustedCode):
        load_model(f"{path}:TinyNet")
    assert not marker.exists()


def test_loading_a_class_with_its_state_dict(user_net):
    path, state, model = user_net
    source = f"{path}:TinyNet"
    assert [c.kind for c in available_weights(source, runs=[])] == ["random"]
    shown = load_model(source)
    assert shown.weights.kind == "random" and shown.info.title == "TinyNet (mynet.py)"
    trained = load_model(source, WeightsChoice("file", path=str(state)), previous=shown)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(trained.module(x), model(x), atol=1e-6)
    assert trained.notice == "TinyNet (mynet.py): file mynet_state.pt"


def test_weights_that_do_not_fit_list_every_key_and_keep_what_was_shown(user_net, tmp_path):
    path, _state, model = user_net
    wrong = {f"extra.{i}": torch.zeros(1) for i in range(5)}
    wrong.update({k: v for k, v in model.state_dict().items() if not k.startswith("head")})
    bad = tmp_path / "bad.pt"
    torch.save(wrong, bad)
    source = f"{path}:TinyNet"
    shown = load_model(source)
    kept = load_model(source, WeightsChoice("file", path=str(bad)), previous=shown)
    assert kept.module is shown.module and kept.fallback
    line = kept.notice
    assert "\n" not in line and "missing head.2.bias, head.2.weight" in line
    assert "unexpected " + ", ".join(f"extra.{i}" for i in range(5)) in line  # all five, not "and 2 more"


def test_a_torchvision_classifier_opens_by_name_with_its_own_class_names():
    loaded = load_model("squeezenet1_1")  # no ImageNet file in the test's torch cache
    assert loaded.weights.kind == "random" and loaded.fallback and "offline" in loaded.notice
    assert loaded.info.family == "torchvision" and loaded.num_classes == 1000
    assert loaded.class_names[0] == "tench"
    assert sum(p.numel() for p in loaded.module.parameters()) == loaded.info.reference_params


def test_a_torchvision_classifier_takes_the_options_of_a_model_of_ones_own(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"thing {i}" for i in range(1000)))
    source = make_source("squeezenet1_1", classes=str(names), mean="0.5", std="0.25")
    assert parse_source(source).kind == "torchvision" and not is_file_source(source)
    info = get_model_info(source)
    assert info.classes[999] == "thing 999" and info.mean_std == ((0.5,) * 3, (0.25,) * 3)
