"""`cnn-explorer bench explain`'s measurements run and report what they measured."""

from __future__ import annotations

import types

import pytest
import torch

from explorer.bench import SUITES
from explorer.bench import explain as bench
from explorer.bench.explain import knockout_vs_plain, receptive_field_times

MODEL = "resnet18_small"


def test_suite_is_listed_and_measures_fields():
    assert "explain" in SUITES
    times = receptive_field_times(["lenet_small", "googlenet_small"])
    assert set(times) == {"lenet_small", "googlenet_small"} and all(t > 0 for t in times.values())


def test_knockouts_timed_are_the_models_own_and_evaluated_as_such():
    from explorer.explain.knockout_choices import knockout_choices
    from explorer.explain.knockout_spec import parse_knockout
    from explorer.graph import build_graph
    from explorer.models import get_model, get_model_info

    knock = knockout_vs_plain(MODEL, 32, repeats=1)
    assert knock["images"] == 32 and knock["plain_s"] > 0 and knock["knockout_s"] > 0
    assert "random images" in knock["source"]  # the tests' data folder is empty

    # The knockouts reported are the bench's list, each one a knockout the app itself
    # offers or accepts for this model: shortcuts from the graph menu of their block, the
    # channel within its convolution's width.
    info = get_model_info(MODEL)
    model = get_model(MODEL)
    graph = build_graph(model, info.input_shape, name=MODEL)
    parsed = [parse_knockout(spec, graph, model) for spec in bench.KNOCKOUTS]
    assert knock["knockouts"] == [k.spec for k in parsed] and len(set(knock["knockouts"])) == len(parsed)
    assert {k.kind for k in parsed} == {"channel", "shortcut"}  # what the docstring promises
    for k in parsed:
        if k.kind == "shortcut":
            block = k.spec.split(":")[0]
            assert (f"Switch off the shortcut of {block}", k.spec) in knockout_choices(graph, model, f"m:{block}")
        else:
            assert 0 <= k.index < model.get_submodule(k.module).out_channels

    for key in ("accuracy_plain", "accuracy_knockout"):
        value = knock[key]
        assert 0.0 <= value <= 1.0 and (value * 32) == pytest.approx(round(value * 32))  # k of 32 right


def _hand_knocked_out(model: torch.nn.Module):
    """resnet18_small with the bench's knockouts made by hand (not by the knockout lab):
    channel 3 of layer1.0.conv1 zeroed, layer2.0's projection shortcut zeroed, layer3.1's
    identity shortcut left out of the sum."""

    def zero_channel_3(_m, _inputs, out):
        out = out.clone()
        out[:, 3] = 0
        return out

    block = model.layer3[1]

    def no_identity(x):
        return block.relu2(block.bn2(block.conv2(block.relu1(block.bn1(block.conv1(x))))))

    handles = [model.layer1[0].conv1.register_forward_hook(zero_channel_3),
               model.layer2[0].downsample.register_forward_hook(lambda _m, _i, out: torch.zeros_like(out))]
    block.forward = no_identity
    return handles, block


def test_knockout_accuracy_is_measured_with_the_knockouts_in_force(monkeypatch, tiny_fashion_root):
    """Labels chosen so the intact model is right on every image: the plain accuracy must
    be exactly 1, the knocked-out one the share of images whose top class survives the
    hand-made knockouts."""
    import explorer.models
    import explorer.train
    from explorer.models import get_model, get_model_info
    from explorer.train import load_fashion_mnist
    from explorer.train.augment import prepare_batch

    info = get_model_info(MODEL)
    torch.manual_seed(0)
    model = get_model(MODEL).eval()
    # The generated set's class bars: on random noise a random model answers one class for
    # every image, with or without knockouts.
    images = load_fashion_mnist(tiny_fashion_root, "cpu", seed=0).test_images[:64]
    (mean,), (std,) = info.mean_std
    x = prepare_batch(images, mean=mean, std=std, size=tuple(info.input_size), in_channels=1)
    with torch.inference_mode():
        intact = model(x).argmax(1)
        handles, block = _hand_knocked_out(model)
        knocked = model(x).argmax(1)
    for handle in handles:
        handle.remove()
    del block.forward
    survive = float((knocked == intact).sum()) / len(intact)
    assert 0.0 < survive < 1.0  # the knockouts change some answers, not all

    data = types.SimpleNamespace(test_images=images, test_labels=intact.clone())
    monkeypatch.setattr(explorer.train, "load_fashion_mnist", lambda *a, **k: data)
    monkeypatch.setattr(explorer.models, "get_model", lambda name, **k: model)
    knock = knockout_vs_plain(MODEL, 64, repeats=2)
    assert knock["source"] == "test split" and knock["images"] == 64
    assert knock["accuracy_plain"] == 1.0
    assert knock["accuracy_knockout"] == pytest.approx(survive)
    # The lab's hooks are gone afterwards: the model answers as it did before.
    with torch.inference_mode():
        assert torch.equal(model(x).argmax(1), intact)
