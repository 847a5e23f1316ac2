"""Per-model training recipes as data: the one place that says how each model learns.

Two tables live here:

- ``DEFAULT_RECIPES``: per family, the recipe ``make_config`` applies when no preset is
  chosen (``cnn-explorer train NAME`` and the Training tab open with it). It must learn in
  five epochs on the 8,226-image subset: at least 0.80 test accuracy for the ReLU-era
  forms, 0.75 for the two LeNets (docs/recipes.md has the measured numbers).
- ``ZOO_RECIPE``: what ``cnn-explorer zoo train`` trains the shipped weights with: the
  family default plus augmentation, label smoothing, all training images (no validation
  split) and an epoch count per model sized to a CPU budget (``ZOO_EPOCHS``, which lives
  with the models in :mod:`explorer.models.zoo`: it also says which forms ship weights).

Why two kinds of default: the forms without batch norm (AlexNet, NiN, VGG, GoogLeNet) and
the saturating LeNets stall or diverge under SGD at lr 0.1 with momentum, which the
batch-norm forms (ResNet, DenseNet, MobileNet, Inception) train fastest with; Adam at
lr 1e-3 to 5e-3 trains the former reliably.
"""

from __future__ import annotations

import math
from typing import Any

from explorer.models.zoo import ZOO_EPOCHS

# SGD with momentum and one-cycle: the batch-norm families.
_SGD_ONECYCLE: dict[str, Any] = dict(
    optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, batch_size=128, schedule="onecycle", epochs=10
)
# Adam with one-cycle: forms without batch norm.
_ADAM_ONECYCLE: dict[str, Any] = dict(
    optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=128, schedule="onecycle", epochs=10
)

#: family -> overrides on TrainConfig's defaults; explicit options and presets win over them.
DEFAULT_RECIPES: dict[str, dict[str, Any]] = {
    # Sigmoid (LeNet) and scaled-tanh (LeNet-5) units saturate: a larger Adam step and
    # smaller batches move them off the plateau within a few epochs.
    "LeNet": dict(_ADAM_ONECYCLE, lr=5e-3, batch_size=64),
    "AlexNet": dict(_ADAM_ONECYCLE),
    # NiN's dropout and plain 1x1 stacks underfit in five epochs: 0.72 test accuracy with
    # the AlexNet/VGG recipe, 0.78 at lr 3e-3, 0.85 at lr 3e-3, batch 64 and no dropout.
    "NiN": dict(_ADAM_ONECYCLE, lr=3e-3, batch_size=64, dropout=0.0),
    "VGG": dict(_ADAM_ONECYCLE),
    "GoogLeNet": dict(_ADAM_ONECYCLE),
    "Inception": dict(_SGD_ONECYCLE),
    "ResNet": dict(_SGD_ONECYCLE),
    "DenseNet": dict(_SGD_ONECYCLE),
    "MobileNet": dict(_SGD_ONECYCLE),
}

#: Added to the family default for the shipped weights.
ZOO_RECIPE: dict[str, Any] = dict(augment=False, shift=2, label_smoothing=0.1, val_fraction=0.0, seed=0)

#: Shipped forms trained with random flips and shifts. Augmentation needs epochs: on short
#: schedules the forms underfit the 8,226 images and it cost accuracy (lenet5_small 0.816
#: after 5 plain epochs, 0.818 after 30 augmented ones; vgg13_small 0.816 after 8 augmented
#: epochs, 0.868 after 12 plain ones). It pays where a form overfits and gets the epochs:
#: the two smaller ResNets (15 epochs); resnet50_small 0.857 after 10 augmented epochs,
#: 0.878 after 20 plain (train 0.999), 0.886 after 20 augmented; mobilenet_v1_small 0.871
#: after 20 plain epochs (train 0.989), 0.871 after 15 augmented, 0.888 after 30
#: augmented; inception_v3_small 0.876 after 10 plain epochs, 0.877 after 16, 0.874 after
#: 15 augmented (train 0.888), 0.894 after 25 augmented (test accuracies on all 6,978 test
#: images).
ZOO_AUGMENTED: frozenset[str] = frozenset(
    {"resnet18_small", "resnet34_small", "resnet50_small", "mobilenet_v1_small", "inception_v3_small"}
)

#: Per-model changes to the family recipe for the shipped weights, with what they bought.
ZOO_OVERRIDES: dict[str, dict[str, Any]] = {
    # Adam (its family's default) plateaued: 0.856 after 10 epochs, 0.849 after 20 augmented
    # ones. SGD with momentum and weight decay, the batch-norm families' recipe, reached
    # 0.874 after 15 epochs at lr 0.05 and 0.887 after 20 at lr 0.1.
    "googlenet_small": dict(_SGD_ONECYCLE),
}


def _family(model: str) -> str | None:
    from explorer.errors import ModelError
    from explorer.models import get_model_info

    try:
        return get_model_info(model).family
    except ModelError:
        return None


def default_recipe(model: str | None) -> dict[str, Any]:
    """The overrides a model trains with when no preset is chosen ({} for unknown models)."""
    family = _family(model) if model else None
    return dict(DEFAULT_RECIPES.get(family, {})) if family else {}


def zoo_recipe(model: str) -> dict[str, Any]:
    """All options (besides data and device) the shipped weights of ``model`` train with."""
    if model not in ZOO_EPOCHS:
        raise KeyError(model)
    return {
        **default_recipe(model),
        **ZOO_RECIPE,
        **ZOO_OVERRIDES.get(model, {}),
        "augment": model in ZOO_AUGMENTED,
        "model": model,
        "epochs": ZOO_EPOCHS[model],
    }


_SIGMOID = (
    "textbook-modern is d2l's recipe for ReLU networks (SGD without momentum on raw pixels); "
    "{model}'s sigmoid units stay at chance with it (lenet_small: test 0.10 after 10 epochs). "
    "Use textbook-lenet or no preset (its default recipe)"
)
_TANH_RBF = (
    "textbook-modern is d2l's recipe for ReLU networks; {model} has scaled-tanh units and an "
    "RBF output it was not made for. Use no preset (its default recipe)"
)
_DEEP_PLAIN = (
    "textbook-modern re-initialises with Xavier, which leaves {model}'s plain ReLU stack "
    "(no batch norm) at chance for epochs (vgg19_small: test 0.10 after 2 epochs); d2l trains "
    "only VGG-11 this way. Use no preset (He init, Adam)"
)

#: preset -> model -> why the preset does not teach that model ("*": every model not listed
#: in the preset's SUITS entry). Shown before a run by ``config.preset_fit``.
PRESET_MISFITS: dict[str, dict[str, str]] = {
    "textbook-modern": {
        "lenet": _SIGMOID,
        "lenet_small": _SIGMOID,
        "lenet5": _TANH_RBF,
        "lenet5_small": _TANH_RBF,
        "vgg13_small": _DEEP_PLAIN,
        "vgg16_small": _DEEP_PLAIN,
        "vgg19_small": _DEEP_PLAIN,
    },
    "textbook-lenet": {
        "*": "textbook-lenet is d2l's recipe for the sigmoid LeNet (SGD lr 0.9 without momentum, "
        "raw pixels); it was not made for {model}. Use no preset (its default recipe)",
    },
}

#: Models a preset was made for; others get its "*" misfit line.
PRESET_SUITS: dict[str, tuple[str, ...]] = {"textbook-lenet": ("lenet", "lenet_small")}


#: The textbook presets' plain SGD needs about d2l's number of optimiser steps to reach
#: d2l's figures: d2l's steps (10 epochs of 60,000 images) and what was measured here with
#: fewer (`bench recipes`, docs/recipes.md). The same epochs on a smaller set are fewer steps, so
#: the form says so (``short_schedule``).
PRESET_STEPS: dict[str, tuple[int, str]] = {
    "textbook-lenet": (
        2350,
        "lenet_small on the 8,226-image subset: test 0.10 after 10 epochs, 0.81 after 80",
    ),
    "textbook-modern": (
        4690,
        "after 10 epochs of the 8,226-image subset: test 0.37 nin_small, 0.49 googlenet_small, "
        "0.73 vgg11_small, 0.76 alexnet_small, 0.85 resnet18_small",
    ),
}


def short_schedule(preset_name: str, epochs: int, batch_size: int, train_images: int) -> str | None:
    """The line saying that ``epochs`` over ``train_images`` are too few steps for
    ``preset_name`` (None when they are enough, or the preset has no such need)."""
    need = PRESET_STEPS.get(preset_name)
    if need is None or train_images <= 0:
        return None
    steps_needed, measured = need
    per_epoch = math.ceil(train_images / batch_size)
    steps = epochs * per_epoch
    if steps >= 0.8 * steps_needed:  # "about": a validation split takes a tenth
        return None
    return (
        f"{preset_name} needs about d2l's {steps_needed:,} steps (10 epochs of 60,000 images); "
        f"{epochs} epochs of these {train_images:,} images are {steps:,}: too few ({measured}). "
        f"Set {math.ceil(steps_needed / per_epoch)} epochs for d2l's steps"
    )


def preset_misfit(preset_name: str, model: str) -> str | None:
    """The misfit line for ``model`` under ``preset_name`` (None when it suits)."""
    table = PRESET_MISFITS.get(preset_name, {})
    line = table.get(model)
    if line is None and "*" in table and model not in PRESET_SUITS.get(preset_name, ()):
        line = table["*"]
    return line.format(model=model) if line else None
