"""The zoo: which small forms ship Fashion-MNIST weights, and which do not and why (no torch).

``ZOO_EPOCHS`` names every shipped form with the epochs ``cnn-explorer zoo train`` gives
it; the rest of its recipe is ``explorer.train.recipes.zoo_recipe``. The table lives with
the models because the models ask it: a form in it that has no usable weights is
reported (``explorer.models.manifest.unavailable_reason``), any other simply ships none.
"""

from __future__ import annotations

#: Epochs per shipped model, sized to about 100 minutes for the whole zoo on two CPU cores
#: shared with other jobs (see docs/recipes.md, "Shipped weights"): cheap forms and the ones that
#: lagged after a first, shorter pass get more.
ZOO_EPOCHS: dict[str, int] = {
    "resnet18_small": 15,
    "lenet_small": 40,
    "lenet5_small": 40,
    "vgg11_small": 12,
    "vgg13_small": 12,
    "resnet34_small": 15,
    "vgg16_small": 8,
    "vgg19_small": 8,
    "nin_small": 15,
    "mobilenet_v1_small": 30,
    "inception_v2_small": 8,
    "googlenet_small": 20,
    "resnet50_small": 20,
    "alexnet_small": 10,
    "mobilenet_v2_small": 12,
    "inception_v3_small": 25,
    "densenet121_small": 8,
    "densenet169_small": 8,
    "densenet201_small": 8,
}

#: Small forms left out of the shipped set, with the reason (docs/recipes.md says it too).
ZOO_EXCLUDED: dict[str, str] = {
    "resnet101_small": "2.68 M parameters (5.4 MB in fp16) would push the set past 30 MB; "
    "it is resnet50_small with more bottleneck blocks, and takes ~2x its CPU time per epoch",
    "resnet152_small": "3.67 M parameters (7.3 MB in fp16) would push the set past 30 MB; "
    "it is resnet50_small with more bottleneck blocks, and takes ~3x its CPU time per epoch",
}
