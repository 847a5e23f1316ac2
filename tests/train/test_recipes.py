"""Per-model default recipes, the zoo's recipes, and the preset-fit warnings."""

from __future__ import annotations

import pytest

from explorer.errors import UserError
from explorer.models import get_model_info, list_models, small_form_of
from explorer.train import PRESETS, TrainConfig, make_config
from explorer.train.config import preset_fit
from explorer.train.recipes import DEFAULT_RECIPES, ZOO_EPOCHS, ZOO_EXCLUDED, default_recipe, zoo_recipe


def test_every_small_form_has_a_default_recipe_and_a_zoo_decision():
    small = list_models(form="small")
    assert {get_model_info(n).family for n in small} <= set(DEFAULT_RECIPES)
    # Each small form either ships (with an epoch count) or is excluded with a reason.
    assert set(ZOO_EPOCHS) | set(ZOO_EXCLUDED) == set(small)
    assert not set(ZOO_EPOCHS) & set(ZOO_EXCLUDED)


@pytest.mark.parametrize("model", ["resnet18_small", "vgg16_small", "lenet5_small", "lenet"])
def test_no_preset_applies_the_models_default_recipe(model):
    config = make_config(model=model)
    recipe = DEFAULT_RECIPES[get_model_info(model).family]
    for key, value in recipe.items():
        assert getattr(config, key) == value, key
    # It is not TrainConfig's bare default (SGD lr 0.01 constant), which taught lenet_small 0.36.
    assert (config.optimizer, config.lr, config.schedule) != ("sgd", 0.01, "constant")


def test_explicit_options_beat_the_default_recipe_and_presets_replace_it():
    config = make_config(model="resnet18_small", epochs=5, lr=0.02, optimizer=None)
    assert (config.epochs, config.lr, config.optimizer) == (5, 0.02, "sgd")
    strong = make_config("strong", model="lenet_small")
    assert strong.lr == PRESETS["strong"]["lr"] and strong.augment
    assert make_config().to_dict() == make_config(model=TrainConfig.model).to_dict()


def test_unknown_models_get_no_recipe_instead_of_failing():
    assert default_recipe("no_such_model") == {}
    assert default_recipe(None) == {}


def test_zoo_recipe_adds_augmentation_and_uses_every_training_image():
    recipe = zoo_recipe("resnet18_small")
    assert recipe["augment"] and recipe["val_fraction"] == 0.0 and recipe["epochs"] == ZOO_EPOCHS["resnet18_small"]
    assert make_config(None, **recipe).model == "resnet18_small"
    with pytest.raises(KeyError):
        zoo_recipe("resnet152_small")


def test_textbook_lenet_stays_faithful_to_d2l():
    p = PRESETS["textbook-lenet"]
    assert (p["model"], p["optimizer"], p["lr"], p["momentum"], p["batch_size"], p["epochs"]) == (
        "lenet", "sgd", 0.9, 0.0, 256, 10
    )
    assert p["init"] == "xavier" and p["normalize"] is False


@pytest.mark.parametrize(
    ("preset", "model", "fits"),
    [
        ("textbook-modern", "lenet_small", False),
        ("textbook-modern", "lenet5_small", False),
        ("textbook-modern", "vgg19_small", False),
        ("textbook-modern", "resnet18_small", True),
        ("textbook-modern", "alexnet_small", True),
        ("textbook-lenet", "lenet", True),
        ("textbook-lenet", "lenet_small", True),
        ("textbook-lenet", "resnet18_small", False),
        ("strong", "lenet_small", True),
        (None, "lenet_small", True),
    ],
)
def test_preset_fit_warns_only_where_the_preset_cannot_teach(preset, model, fits):
    line = preset_fit(preset, model)
    if fits:
        assert line is None
    else:
        assert line and model in line and "\n" not in line


def test_preset_fit_rejects_unknown_presets():
    with pytest.raises(UserError, match="unknown preset"):
        preset_fit("nope", "lenet_small")


def test_train_cli_warns_before_a_misfit_run(tiny_fashion_root, capsys):
    from explorer.cli import main

    code = main(["train", "lenet_small", "--preset", "textbook-modern", "--epochs", "1",
                 "--subset", "100", "--data-dir", str(tiny_fashion_root), "--device", "cpu"])
    assert code == 0
    assert "warning: textbook-modern is d2l's recipe for ReLU networks" in capsys.readouterr().err


def test_small_form_of_reference_models():
    assert small_form_of("resnet50") == "resnet50_small"
    assert small_form_of("googlenet_tv") == "googlenet_small"  # a variant: its original's
    assert small_form_of("resnet18_small") == "resnet18_small"
    assert small_form_of("no_such_model") is None
    for name in list_models(form="reference"):
        small = small_form_of(name)
        assert small is None or get_model_info(small).form == "small"
