"""Parameter, FLOP and per-layer counts."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from explorer.models import (
    count_flops,
    count_parameters,
    get_model,
    get_model_info,
    layer_summary,
    list_models,
    macs,
    meta_model,
)
from explorer.models.stats import model_stats
from explorer.numbers import human


def test_count_parameters_trainable_only():
    model = get_model("lenet")
    model.conv1.weight.requires_grad_(False)
    assert count_parameters(model) == 61_706 - 150
    assert count_parameters(model, trainable_only=False) == 61_706


@pytest.mark.parametrize("name", ["lenet5", "resnet18_small", "googlenet_small", "mobilenet_v1_small"])
def test_flops_on_meta_agree_with_cpu(name):
    info = get_model_info(name)
    on_meta = count_flops(meta_model(name), info.input_shape)
    on_cpu = count_flops(get_model(name), info.input_shape)
    assert on_meta == on_cpu > 0


def test_flops_scale_with_batch_and_leave_the_mode_alone():
    model = meta_model("googlenet_small").train()
    one = count_flops(model, (1, 1, 28, 28))
    assert count_flops(model, (4, 1, 28, 28)) == 4 * one
    assert model.training  # counted in eval (no aux heads), mode restored


def test_lenet_flops_by_hand():
    # Multiply-adds of the textbook LeNet: conv1 28*28*6*25, conv2 10*10*16*150, and FCs.
    expected_macs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert macs(count_flops(meta_model("lenet"), (1, 1, 28, 28))) == expected_macs


@pytest.mark.parametrize("name", [n for n in list_models() if get_model_info(n).weights])
def test_counts_match_torchvision_published_meta(name):
    info = get_model_info(name)
    meta = torchvision.models.get_weight(info.weights).meta
    model = meta_model(name)
    # torchvision lists its weights' models without aux heads.
    aux = sum(count_parameters(m) for n, m in model.named_children() if n.startswith("aux"))
    assert count_parameters(model) - aux == meta["num_params"]
    # torchvision's "_ops" are GFLOPs counted as multiply-adds, rounded to 3 decimals.
    assert macs(count_flops(model, info.input_shape)) / 1e9 == pytest.approx(meta["_ops"], abs=0.0015)


def test_layer_summary_of_lenet():
    model = get_model("lenet")
    rows = layer_summary(model, (1, 1, 28, 28))
    assert [r.path for r in rows][:4] == ["conv1", "sigmoid1", "pool1", "conv2"]
    by_path = {r.path: r for r in rows}
    assert by_path["conv1"].output_shape == (1, 6, 28, 28)
    assert by_path["pool2"].output_shape == (1, 16, 5, 5)
    assert by_path["fc3"].output_shape == (1, 10)
    assert by_path["conv2"].type == "Conv2d" and by_path["conv2"].params == 2_416
    assert sum(r.params for r in rows) == 61_706
    assert sum(r.flops for r in rows) == count_flops(model, (1, 1, 28, 28))
    assert by_path["conv1"].flops == 2 * 28 * 28 * 6 * 25
    assert not any(m._forward_hooks for m in model.modules())


def test_layer_summary_skips_aux_heads_and_counts_reused_modules():
    rows = layer_summary(meta_model("googlenet"), (1, 3, 224, 224))
    assert not any(r.path.startswith("aux") for r in rows)
    assert rows[0].output_shape == (1, 64, 112, 112)
    assert rows[-1].path == "fc" and rows[-1].output_shape == (1, 1000)
    # torchvision's ResNet calls one ReLU module twice per block: one row, first shape.
    resnet_rows = layer_summary(meta_model("resnet18"), (1, 3, 224, 224))
    paths = [r.path for r in resnet_rows]
    assert len(paths) == len(set(paths))


def test_model_stats_and_human():
    stats = model_stats("resnet18")
    assert stats["params"] == stats["reference_params"] == 11_689_512
    assert stats["input_shape"] == [1, 3, 224, 224]
    assert human(stats["macs"]) == "1.81 G"
    assert human(61_706) == "61.71 k"
    assert human(12) == "12"


def test_meta_model_allocates_nothing():
    model = meta_model("vgg19")
    assert all(p.device.type == "meta" for p in model.parameters())
    assert isinstance(model, nn.Module)
    assert count_parameters(model) == 143_667_240
    assert torch.empty(0).device.type == "cpu"  # the meta device does not leak out


def test_model_stats_cache(monkeypatch, isolated_folders):
    from explorer.models import stats

    first = model_stats("lenet")
    cache_file = isolated_folders / "cache" / "model-stats.json"
    assert cache_file.is_file()

    def no_measuring(name):
        raise AssertionError("measured again despite the cache")

    monkeypatch.setattr(stats, "_measure", no_measuring)
    assert model_stats("lenet") == first
    # A new key (code or library change) invalidates the cache.
    monkeypatch.setattr(stats, "_cache_key", lambda: "other")
    with pytest.raises(AssertionError, match="measured again"):
        model_stats("lenet")
    monkeypatch.undo()
    cache_file.write_text("{not json", encoding="utf-8")
    assert model_stats("lenet") == first
    assert model_stats("lenet", use_cache=False) == first


def test_model_stats_unknown_name():
    from explorer.models import ModelError

    with pytest.raises(ModelError, match="unknown model 'lenet7'"):
        model_stats("lenet7")
