"""torchvision's classifiers outside the zoo: their facts, and builds that match torchvision's counts."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision

from explorer.errors import ModelError
from explorer.models import list_models
from explorer.models.torchvision_models import (
    _FAMILIES,
    FAMILY,
    _family_of,
    classifier_names,
    torchvision_info,
)

NAMES = classifier_names()


def test_names_are_torchvisions_classifiers_less_the_zoo():
    everything = set(torchvision.models.list_models(module=torchvision.models))
    zoo = set(list_models())
    assert NAMES == sorted(everything - zoo)
    assert not zoo & set(NAMES)
    # The zoo's own forms win: resnet50 is the zoo's, convnext_tiny torchvision's.
    assert "resnet50" not in NAMES and "googlenet" not in NAMES
    assert {"convnext_tiny", "efficientnet_b0", "regnet_y_400mf", "vit_b_16", "swin_t"} <= set(NAMES)


def test_every_parameter_count_matches_torchvisions_metadata():
    """All classifiers, built on the meta device (no memory, no initialisation arithmetic)."""
    wrong = {}
    for name in NAMES:
        info = torchvision_info(name)
        with torch.device("meta"):
            model = info.builder()
        count = sum(p.numel() for p in model.parameters())
        if count != info.reference_params:
            wrong[name] = (count, info.reference_params)
    assert wrong == {}


def test_facts_come_from_the_default_weights():
    for name in NAMES:
        info = torchvision_info(name)
        default = torchvision.models.get_model_weights(name).DEFAULT
        assert torchvision.models.get_weight(info.weights) is default
        assert info.family == FAMILY and info.form == "reference"
        assert info.reference_params == default.meta["num_params"]
        assert info.num_classes == len(default.meta["categories"]) == 1000
        assert info.in_channels == 3 and info.normalization == "imagenet" and info.aux_heads == 0
        height, width = info.input_size
        assert height == width and 224 <= height <= 600, name
        assert info.year >= 2015 and info.paper and info.description.endswith("."), name
    # Sizes the DEFAULT weights choose: EfficientNet grows with its scale, ViT-H/14's SWAG
    # weights were fine-tuned at 518.
    assert torchvision_info("efficientnet_b0").input_size == (224, 224)
    assert torchvision_info("efficientnet_b7").input_size == (600, 600)
    assert torchvision_info("vit_h_14").input_size == (518, 518)


def test_every_classifier_has_a_family_and_a_unique_title():
    assert [n for n in NAMES if _family_of(n) is None] == []
    titles = [torchvision_info(n).title for n in NAMES]
    assert len(set(titles)) == len(titles)
    # Every family row covers at least one name (a row no name reaches is dead).
    assert all(any(re.fullmatch(f.pattern, n) for n in NAMES) for f in _FAMILIES)


@pytest.mark.parametrize(("name", "title", "year"), [
    ("convnext_tiny", "ConvNeXt-Tiny", 2022),
    ("efficientnet_b0", "EfficientNet-B0", 2019),
    ("efficientnet_v2_s", "EfficientNetV2-S", 2021),
    ("regnet_y_400mf", "RegNetY-400MF", 2020),
    ("regnet_x_1_6gf", "RegNetX-1.6GF", 2020),
    ("vit_b_16", "ViT-B/16", 2021),
    ("shufflenet_v2_x1_0", "ShuffleNet v2 1.0×", 2018),
    ("squeezenet1_1", "SqueezeNet 1.1", 2016),
    ("mnasnet0_75", "MNASNet 0.75×", 2019),
    ("mobilenet_v3_small", "MobileNet v3 Small", 2019),
    ("swin_t", "Swin-T", 2021),
    ("swin_v2_t", "SwinV2-T", 2022),
    ("maxvit_t", "MaxViT-T", 2022),
    ("resnext50_32x4d", "ResNeXt-50 32×4d", 2017),
    ("wide_resnet50_2", "Wide ResNet-50-2", 2016),
    ("vgg16_bn", "VGG-16 BN", 2015),
    ("densenet161", "DenseNet-161", 2017),
])  # fmt: skip
def test_titles_and_years(name, title, year):
    info = torchvision_info(name)
    assert (info.title, info.year) == (title, year)


def test_builder_takes_torchvisions_arguments_and_never_loads_weights():
    info = torchvision_info("squeezenet1_1")
    with torch.device("meta"):
        model = info.builder(num_classes=10)
    assert model.classifier[1].out_channels == 10
    with pytest.raises(TypeError):
        info.builder(weights="DEFAULT")  # weights are the app's business, not the builder's


def test_vit_h_14_is_built_for_its_default_weights_size():
    info = torchvision_info("vit_h_14")
    with torch.device("meta"):
        model = info.builder()
    assert model.image_size == 518
    assert sum(p.numel() for p in model.parameters()) == info.reference_params


def test_regnet_builds_on_meta_and_leaves_torchvision_as_it_was():
    from torchvision.models.regnet import BlockParams

    before = BlockParams.__dict__["from_init_params"]
    with torch.device("meta"):
        model = torchvision_info("regnet_y_400mf").builder()
    assert next(model.parameters()).is_meta
    assert BlockParams.__dict__["from_init_params"] is before


def test_infos_are_cached():
    assert torchvision_info("convnext_tiny") is torchvision_info("convnext_tiny")


@pytest.mark.parametrize("name", ["resnet50", "no_such_net", "", "convnext_tiny "])
def test_unknown_or_zoo_names_are_refused_on_one_line(name):
    with pytest.raises(ModelError) as caught:
        torchvision_info(name)
    assert "\n" not in str(caught.value)
