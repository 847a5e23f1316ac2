"""Lesson 13: multi-scale training (GoogLeNet §6; the GoogLeNet write-ups). An experiment.

GoogLeNet §6 trains on patches of 8-100% of the image area; the write-ups say: resize the
training images to several sizes at random, and a fully convolutional net (one whose head
is global pooling, no fixed-size FC) then accepts any input size and generalises across
scales. Trained here: ``resnet18_small`` (convolutions, then adaptive global average
pooling and one FC layer, so it runs at any size; its stage grids are 10/5/3/2 px at 20 px
input and 20/10/5/3 at 40 px) twice from the same initial weights, once with every
training batch resized to a random size of 20-36 px (:class:`RandomRescale`, training mode
only) and once at 28 px only; then both are tested on the test images resized to 20, 24,
28, 32, 36 and 40 px. Not ``nin_small``, the zoo's other pure global-pooling form: its
unpadded 3/2 max pools, sized for 28 px, shrink a 20 px input to a 1x1 map before its last
block (whose 3x3 convs then see only their centre taps), so its smallest training size
would be a different network; and without batch norm it trains slowly and needs its own
recipe.

Budget: both arms and the tests at six sizes took 150 s on the two CPU cores (two torch
threads, load average 1.1 at the start, 2.0 at the end); 180 s allows for a busier machine.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from explorer.lessons.base import (
    Chart,
    Experiment,
    ExperimentStopped,
    Figure,
    Lesson,
    Link,
    Outcome,
    Series,
    Source,
)

NAME = "multi-scale-training"
COMMAND = f"cnn-explorer lessons run {NAME}"
BUDGET_S = 180.0

MODEL = "resnet18_small"
TRAIN_SIZES = (20, 36)  # every batch at a random size in this range, both ends included
BASE_SIZE = 28
TEST_SIZES = (20, 24, 28, 32, 36, 40)
SEED = 0
TRAIN_IMAGES, TEST_IMAGES, EPOCHS = 8000, 3000, 12
QUICK_TRAIN_IMAGES, QUICK_EPOCHS, QUICK_BATCH = 64, 1, 32
# The ResNet family's default recipe (explorer/train/recipes.py).
RECIPE = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128,
          "schedule": "onecycle"}
# Two accuracies closer than this (percentage points) count as the same: on 3,000 test images
# at 85% the standard error of a difference is about 0.9 points.
TIE_POINTS = 1.0
# Share of the progress bar the training takes; the tests at six sizes take the rest.
TRAIN_SHARE = 0.9


class RandomRescale(nn.Module):
    """Wraps a model so that in training mode each batch is resized to a random square size
    in ``[low, high]`` pixels (bilinear, as the training data's own resize) before it; in
    eval mode the input passes unchanged.

    Args:
        model: a network that accepts any input size (a global-pooling head).
        low, high: the size range, both included.
        seed: seeds the sizes drawn, so a run is repeatable.
    """

    def __init__(self, model: nn.Module, low: int, high: int, seed: int = 0) -> None:
        super().__init__()
        self.model = model
        self.low, self.high = low, high
        self.generator = torch.Generator().manual_seed(seed)
        self.sizes: list[int] = []  # the size of every training batch, in order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            size = int(torch.randint(self.low, self.high + 1, (), generator=self.generator))
            self.sizes.append(size)
            if size != x.shape[-1] or size != x.shape[-2]:
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return self.model(x)


def arm_label(multi: bool) -> str:
    return f"multi-scale {TRAIN_SIZES[0]}-{TRAIN_SIZES[1]} px" if multi else f"single scale {BASE_SIZE} px"


def accuracy_by_size(model: nn.Module, data: Any, sizes: tuple[int, ...], should_stop: Any) -> list[float]:
    """Test accuracy of ``model`` on ``data``'s test images resized to each of ``sizes``
    (scaled and normalised as in training, bilinear resize as ``TrainConfig.resize`` does)."""
    from explorer.models import FASHION_MNIST_MEAN, FASHION_MNIST_STD
    from explorer.train.augment import prepare_batch
    from explorer.train.evaluation import accuracy, evaluate

    out = []
    for size in sizes:
        result = evaluate(
            model, data.test_images, data.test_labels, batch_size=1024, stop_requested=should_stop,
            prepare=lambda x, s=size: prepare_batch(x, mean=FASHION_MNIST_MEAN[0], std=FASHION_MNIST_STD[0],
                                                    size=(s, s)),
        )
        if result is None:
            raise ExperimentStopped(f"stopped while testing at {size} px")
        out.append(accuracy(result[1].tolist()))
    return out


def run(progress: Any, quick: bool = False, should_stop: Any = None) -> dict[str, Any]:
    """Train ``resnet18_small`` at random scales and at one scale; test both at six sizes."""
    from explorer.lessons.training import Arm, lesson_data, train_arms
    from explorer.models import get_model
    from explorer.train.config import TrainConfig

    should_stop = should_stop or (lambda: False)
    images = QUICK_TRAIN_IMAGES if quick else TRAIN_IMAGES
    data = lesson_data(images)
    test = min(len(data.test_labels), images if quick else TEST_IMAGES)
    data = dataclasses.replace(data, test_images=data.test_images[:test], test_labels=data.test_labels[:test])
    config = TrainConfig(model=MODEL, epochs=QUICK_EPOCHS if quick else EPOCHS, seed=SEED, val_fraction=0.0,
                         device="cpu", **RECIPE)
    if quick:
        config = config.replace(batch_size=QUICK_BATCH)
    models = {}
    for multi in (True, False):
        torch.manual_seed(SEED)  # both arms start from the same weights
        net = get_model(MODEL)
        models[arm_label(multi)] = RandomRescale(net, *TRAIN_SIZES, seed=SEED) if multi else net
    arms = [Arm(label, config, model=model) for label, model in models.items()]
    curves = train_arms(arms, data=data, progress=lambda f, text: progress(TRAIN_SHARE * f, text),
                        should_stop=should_stop)
    tested = {}
    for index, (label, model) in enumerate(models.items()):
        progress(TRAIN_SHARE + (1 - TRAIN_SHARE) * index / len(models), f"{label}: testing at {len(TEST_SIZES)} sizes")
        tested[label] = accuracy_by_size(model, data, TEST_SIZES, should_stop)
    progress(1.0, "done")
    multi = models[arm_label(True)]
    return {
        "model": MODEL,
        "train_sizes": list(TRAIN_SIZES),
        "base_size": BASE_SIZE,
        "test_sizes": list(TEST_SIZES),
        "config": config.to_dict(),
        "data": {"train": len(data.train_labels), "test": test},
        "seed": SEED,
        "quick": quick,
        "arms": curves,
        "test_acc_by_size": tested,
        "batch_sizes_drawn": {str(s): multi.sizes.count(s) for s in range(TRAIN_SIZES[0], TRAIN_SIZES[1] + 1)},
    }


def mean_accuracy(result: dict[str, Any], label: str) -> float:
    """The arm's test accuracy averaged over the test sizes, in percent."""
    values = result["test_acc_by_size"][label]
    return 100.0 * sum(values) / len(values)


def accuracy_at(result: dict[str, Any], label: str, size: int) -> float:
    return 100.0 * result["test_acc_by_size"][label][result["test_sizes"].index(size)]


def _series(result: dict[str, Any], shipped: bool) -> list[Series]:
    suffix = " (shipped)" if shipped else ""
    sizes = tuple(float(s) for s in result["test_sizes"])
    return [Series(arm_label(multi) + suffix, sizes,
                   tuple(100.0 * a for a in result["test_acc_by_size"][arm_label(multi)]), shipped)
            for multi in (True, False)]


def _compare(gap: float) -> str:
    if gap > TIE_POINTS:
        return "above"
    if gap < -TIE_POINTS:
        return "below"
    return "about level with"


def outcome(result: dict[str, Any], rerun: dict[str, Any] | None = None) -> Outcome:
    """Figures and verdict from ``rerun`` when given (else ``result``); curves of both."""
    shown = rerun if rerun is not None else result
    multi, single = arm_label(True), arm_label(False)
    base = shown["base_size"]
    at_base = {label: accuracy_at(shown, label, base) for label in (multi, single)}
    means = {label: mean_accuracy(shown, label) for label in (multi, single)}
    smallest, largest = shown["test_sizes"][0], shown["test_sizes"][-1]
    figures = (
        Figure(f"test accuracy at {base} px, {multi}", round(at_base[multi], 2), None, "%"),
        Figure(f"test accuracy at {base} px, {single}", round(at_base[single], 2), None, "%"),
        Figure(f"mean test accuracy over {smallest}-{largest} px, {multi}", round(means[multi], 2), None, "%"),
        Figure(f"mean test accuracy over {smallest}-{largest} px, {single}", round(means[single], 2), None, "%"),
    )
    mean_gap = means[multi] - means[single]
    base_gap = at_base[multi] - at_base[single]
    worst = {label: min(shown["test_acc_by_size"][label]) * 100.0 for label in (multi, single)}
    summary = (f"averaged over {smallest}-{largest} px the multi-scale net scores {means[multi]:.1f}% against "
               f"{means[single]:.1f}% ({mean_gap:+.1f} points; worst size {worst[multi]:.1f}% against "
               f"{worst[single]:.1f}%), and at {base} px, the single-scale net's own size, {at_base[multi]:.1f}% "
               f"against {at_base[single]:.1f}% ({base_gap:+.1f})")
    epochs = len(shown["arms"][multi]["epoch"])
    scale = f"{shown['data']['train']:,} training images, {epochs} epoch{'s' * (epochs != 1)}"
    if mean_gap > TIE_POINTS:
        verdict = (f"Reproduced: {summary}. Both nets accept every size (the global-pooling head), but only the one "
                   f"trained at several scales keeps its accuracy away from {base} px ({scale}).")
    elif mean_gap < -TIE_POINTS:
        verdict = (f"Not reproduced: {summary}; training at random scales cost accuracy here ({scale}). More "
                   "epochs would tell whether the multi-scale net only needs longer to learn several scales.")
    else:
        verdict = (f"Not reproduced: {summary}; both nets are {_compare(mean_gap)} each other across sizes "
                   f"({scale}), so at this scale the random resizing neither helped nor hurt.")
    charts = (Chart("Test accuracy against input size", "input size (px)", "test accuracy (%)",
                    tuple((_series(result, shipped=True) if rerun is not None else []) + _series(shown, False))),)
    notes = [
        ("Both nets run at every size because resnet18_small's convolutions end in adaptive global average "
         "pooling before its one FC layer; a net that flattens a fixed grid into its FC layers (AlexNet, "
         "LeNet) accepts only the size it was built for."),
        ("GoogLeNet §6 itself samples patches of 8-100% of the image area with aspect ratios 3/4-4/3 (a crop, then "
         "a resize to 224 px); resizing whole batches to a random size, as here, is the write-ups' version."),
        f"Training batch sizes drawn: {', '.join(f'{k} px x{v}' for k, v in shown['batch_sizes_drawn'].items() if v)}.",
    ]
    if rerun is not None:
        notes.append("Dashed: the shipped result; solid: your run (figures and verdict are your run's).")
    return Outcome(figures=figures, verdict=verdict, charts=charts, notes=tuple(notes))


LESSON = Lesson(
    name=NAME,
    number=13,
    title="Multi-scale training",
    claim=("Training a fully convolutional net on images resized to random sizes lets it classify inputs of "
           "any size, where a net trained at one size loses accuracy at the others."),
    sources=(Source("Szegedy et al. 2015 (GoogLeNet)", "§6"),),
    paper_figure="GoogLeNet §6 (training on patches of 8-100% of the image area)",
    look_at=("The two curves of test accuracy against input size: the single-scale net peaks at 28 px, where "
             "it was trained; how far does it fall at 20 and 40 px, and does the multi-scale net stay flat? "
             "In resnet18_small's graph, the global average pooling before the FC layer turns any grid "
             "into one value per channel."),
    links=(
        Link("graph", MODEL, "the global average pooling that accepts any size", node="avgpool"),
        Link("training", MODEL, "train ResNet-18 yourself (resize sets its input size)"),
    ),
    experiment=Experiment(run=run, outcome=outcome, command=COMMAND, budget_s=BUDGET_S),
)
