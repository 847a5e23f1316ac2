"""Per-model default recipes, the zoo's recipes, and the preset-fit warnings."""

from __future__ import annotations

import pytest

from explorer.errors import UserError
from explorer.models import get_model_info, list_models, small_form_of
from explorer.models.zoo import ZOO_EPOCHS, ZOO_EXCLUDED
from explorer.train import PRESETS, TrainConfig, make_config
from explorer.train.config import preset_fit
from explorer.train.recipes import DEFAULT_RECIPES, default_recipe, zoo_recipe


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


def test_a_textbook_preset_on_less_data_than_d2l_says_it_is_too_few_steps():
    config = make_config("textbook-lenet")
    line = preset_fit("textbook-lenet", "lenet_small", config, 8226)
    # 8,226 images less the 10 % validation split: 7,403, 29 batches of 256 per epoch
    assert line and "290" in line and "Set 82 epochs" in line and "\n" not in line
    assert preset_fit("textbook-lenet", "lenet_small", config, 60000) is None  # d2l's own set
    assert preset_fit("textbook-lenet", "lenet_small", config.replace(epochs=80), 8226) is None
    assert "20 epochs of these 900" in preset_fit("textbook-lenet", "lenet_small",
                                                  config.replace(subset=1000, epochs=20), 8226)
    assert preset_fit("textbook-lenet", "lenet_small") is None  # without the data: no claim
    assert preset_fit("strong", "resnet18_small", make_config("strong"), 100) is None
    modern = preset_fit("textbook-modern", "nin_small", make_config("textbook-modern"), 8226)
    assert "are 580:" in modern and "0.37 nin_small" in modern and "Set 81 epochs" in modern
    assert preset_fit("textbook-modern", "lenet_small", make_config("textbook-modern"), 8226).startswith(
        "textbook-modern is d2l's recipe for ReLU networks")  # the misfit says more than the steps


def test_image_count_reads_the_idx_header(tiny_fashion_root, tmp_path):
    from explorer.train.data import image_count, raw_folder

    count = image_count(tiny_fashion_root)
    labels = (raw_folder(tiny_fashion_root) / "train-labels-idx1-ubyte").read_bytes()
    assert count == len(labels) - 8 > 0
    assert image_count(tmp_path) is None  # no files
    raw = raw_folder(tmp_path)
    raw.mkdir(parents=True)
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x03" + labels[4:])  # an images header
    assert image_count(tmp_path) is None
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00")  # cut short
    assert image_count(tmp_path) is None


def test_train_cli_warns_when_a_preset_is_too_few_steps(tiny_fashion_root, capsys):
    from explorer.cli import main

    code = main(["train", "lenet_small", "--preset", "textbook-lenet", "--epochs", "1",
                 "--subset", "100", "--data-dir", str(tiny_fashion_root), "--device", "cpu"])
    assert code == 0
    assert "warning: textbook-lenet needs about d2l's 2,350 steps" in capsys.readouterr().err


def test_small_form_of_reference_models():
    assert small_form_of("resnet50") == "resnet50_small"
    assert small_form_of("googlenet_tv") == "googlenet_small"  # a variant: its original's
    assert small_form_of("resnet18_small") == "resnet18_small"
    assert small_form_of("no_such_model") is None
    for name in list_models(form="reference"):
        small = small_form_of(name)
        assert small is None or get_model_info(small).form == "small"
