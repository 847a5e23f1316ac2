"""Lesson 8: auxiliary classifiers (GoogLeNet §5; Inception v3 §4). An experiment.

GoogLeNet hangs two small classifiers on 4a and 4d and, during one training, adds their
losses to the total with weight 0.3 ("to increase the gradient signal that gets propagated
back"); they are dropped at inference. The notes' "alternative training" (train up to
softmax0, then softmax1, in stages) is not what the paper does. Inception v3 §4 later found
that the heads do not speed up early convergence and act mainly as regularisers.

Trained here: ``googlenet_small`` (both aux heads) twice from the same initial weights and
batches, with ``aux_weight`` 0.3 and 0 (the heads still run with weight 0, so the two arms
do the same work and draw the same dropout masks). Each epoch records the mean gradient
norm of every parameter (the time machine's statistics); the lesson compares the gradient
reaching the EARLY layers (the stem convs and Inception 3a/3b) and the main head's test
accuracy.

Budget: both arms take about 400 s on two CPU cores (extrapolated: 3 of the 10 epochs of
both arms took 119 s on one torch thread, load average 4.2 at the start, 1.4 at the end).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from explorer.lessons.base import (
    Chart,
    Experiment,
    Figure,
    Lesson,
    Link,
    Outcome,
    Series,
    Source,
    Table,
)
from explorer.train.records import GRAD_NORM, TEST_ACC

NAME = "auxiliary-classifiers"
COMMAND = f"cnn-explorer lessons run {NAME}"
BUDGET_S = 400.0

MODEL = "googlenet_small"
AUX_WEIGHTS = (0.3, 0.0)  # GoogLeNet §5: "their loss gets added to the total loss ... with a discount weight 0.3"
SEED = 0
TRAIN_IMAGES, TEST_IMAGES, EPOCHS = 8000, 3000, 10
QUICK_TRAIN_IMAGES, QUICK_EPOCHS, QUICK_BATCH = 64, 1, 32
# The GoogLeNet family's default recipe (explorer/train/recipes.py: Adam at lr 1e-3, one-cycle).
# Not the zoo's SGD at lr 0.1 (momentum 0.9, one-cycle), the paper's kind of optimiser: over
# this shorter run its peak came at epoch 3 and left both arms (this small form has no batch
# norm) at chance from there on (measured: 0.10 test accuracy after 10 epochs without the
# heads, 0.39 with them).
RECIPE = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "schedule": "onecycle"}
# Parameter-name prefixes of the layers compared, in the order the table lists them.
EARLY_LAYERS = ("conv1", "conv2", "conv3", "inception3a", "inception3b")
LATE_LAYERS = ("inception5a", "inception5b", "fc")
# Two test accuracies closer than this (percentage points) count as the same: on 3,000 test
# images at 85% accuracy the standard error of a difference is about 0.9 points.
TIE_POINTS = 1.0
# A gradient-norm ratio within this of 1 counts as no change.
RATIO_TIE = 0.05


def arm_label(weight: float) -> str:
    return f"aux weight {weight:g}"


def run(progress: Any, quick: bool = False, should_stop: Any = None) -> dict[str, Any]:
    """Train ``googlenet_small`` with aux weight 0.3 and 0, recording gradient norms."""
    from explorer.lessons.training import Arm, lesson_data, train_arms
    from explorer.train.config import TrainConfig

    images = QUICK_TRAIN_IMAGES if quick else TRAIN_IMAGES
    data = lesson_data(images)
    test = min(len(data.test_labels), images if quick else TEST_IMAGES)
    data = dataclasses.replace(data, test_images=data.test_images[:test], test_labels=data.test_labels[:test])
    config = TrainConfig(model=MODEL, epochs=QUICK_EPOCHS if quick else EPOCHS, seed=SEED, val_fraction=0.0,
                         device="cpu", **RECIPE)
    if quick:
        config = config.replace(batch_size=QUICK_BATCH)
    # model=None: the Trainer builds each arm after seeding, so both start from the same weights.
    arms = [Arm(arm_label(w), config.replace(aux_weight=w), grad_norms=True) for w in AUX_WEIGHTS]
    curves = train_arms(arms, data=data, progress=progress, should_stop=should_stop)
    return {
        "model": MODEL,
        "aux_weights": list(AUX_WEIGHTS),
        "config": config.to_dict(),
        "data": {"train": len(data.train_labels), "test": test},
        "seed": SEED,
        "quick": quick,
        "arms": curves,
    }


def _is_layer(name: str, prefix: str) -> bool:
    return (name == prefix or name.startswith(prefix + ".")) and name.endswith("weight")


def group_norm(grad_norm: dict[str, list[float]], prefixes: tuple[str, ...]) -> list[float]:
    """Per epoch, the gradient norm of the weights under ``prefixes`` taken together: the
    root of the sum of squares of their per-parameter mean norms."""
    names = [n for n in grad_norm if any(_is_layer(n, p) for p in prefixes)]
    epochs = len(next(iter(grad_norm.values()), []))
    return [math.sqrt(sum(grad_norm[n][e] ** 2 for n in names)) for e in range(epochs)]


def norm_ratios(result: dict[str, Any], prefixes: tuple[str, ...]) -> list[float]:
    """Per epoch, the gradient norm under ``prefixes`` with aux weight 0.3 over that with 0."""
    with_aux, without = (group_norm(result["arms"][arm_label(w)][GRAD_NORM], prefixes)
                         for w in result["aux_weights"])
    return [a / b if b > 0 else math.inf for a, b in zip(with_aux, without, strict=True)]


def _series(result: dict[str, Any], shipped: bool) -> tuple[list[Series], list[Series]]:
    suffix = " (shipped)" if shipped else ""
    norms, accuracy = [], []
    for weight in result["aux_weights"]:
        curves = result["arms"][arm_label(weight)]
        epochs = tuple(float(e) for e in curves["epoch"])
        norms.append(Series(f"early layers, {arm_label(weight)}{suffix}", epochs,
                            tuple(group_norm(curves[GRAD_NORM], EARLY_LAYERS)), shipped))
        norms.append(Series(f"late layers, {arm_label(weight)}{suffix}", epochs,
                            tuple(group_norm(curves[GRAD_NORM], LATE_LAYERS)), shipped))
        accuracy.append(Series(arm_label(weight) + suffix, epochs,
                               tuple(100.0 * a for a in curves[TEST_ACC]), shipped))
    return norms, accuracy


def _ratio_text(ratio: float) -> str:
    if ratio > 1 + RATIO_TIE:
        return "stronger"
    if ratio < 1 - RATIO_TIE:
        return "weaker"
    return "about the same"


def outcome(result: dict[str, Any], rerun: dict[str, Any] | None = None) -> Outcome:
    """Figures and verdict from ``rerun`` when given (else ``result``); curves of both."""
    shown = rerun if rerun is not None else result
    with_aux, without = (shown["arms"][arm_label(w)] for w in shown["aux_weights"])
    early, late = norm_ratios(shown, EARLY_LAYERS), norm_ratios(shown, LATE_LAYERS)
    acc_aux, acc_none = 100.0 * with_aux[TEST_ACC][-1], 100.0 * without[TEST_ACC][-1]
    first_gap = 100.0 * (with_aux[TEST_ACC][0] - without[TEST_ACC][0])
    final_gap = acc_aux - acc_none
    epochs = len(early)
    figures = (
        Figure("early-layer gradient norm, aux 0.3 / aux 0, epoch 1", round(early[0], 3),
               "stronger (GoogLeNet §5)", "x"),
        Figure(f"early-layer gradient norm, aux 0.3 / aux 0, epoch {epochs}", round(early[-1], 3), None, "x"),
        Figure("late-layer gradient norm (5a, 5b, fc), aux 0.3 / aux 0, epoch 1", round(late[0], 3), None, "x"),
        Figure("main head test accuracy, aux 0.3", round(acc_aux, 2), None, "%"),
        Figure("main head test accuracy, aux 0", round(acc_none, 2), None, "%"),
        Figure("test accuracy after epoch 1, aux 0.3 minus aux 0", round(first_gap, 2),
               "about 0: no faster early convergence (v3 §4)", "points"),
        Figure(f"test accuracy after epoch {epochs}, aux 0.3 minus aux 0", round(final_gap, 2),
               "slightly above 0 at the end of a long training (v3 §4)", "points"),
    )
    later = f" and {early[-1]:.2f}x in epoch {epochs}" if epochs > 1 else ""
    gradient = (f"with the aux losses the early layers get a {_ratio_text(early[0])} gradient: {early[0]:.2f}x "
                f"the norm without them in epoch 1{later} (late layers {late[0]:.2f}x in epoch 1)")
    if abs(final_gap) <= TIE_POINTS:
        accuracy = (f"the main head's test accuracy ends about the same ({acc_aux:.1f}% against {acc_none:.1f}%, "
                    f"{final_gap:+.1f} points)")
    else:
        accuracy = (f"the main head's test accuracy ends {'higher' if final_gap > 0 else 'lower'} with them "
                    f"({acc_aux:.1f}% against {acc_none:.1f}%, {final_gap:+.1f} points)")
    early_part = (f"after epoch 1 the gap is {first_gap:+.1f} points, "
                  + ("no faster start, as v3 §4 found" if abs(first_gap) <= TIE_POINTS
                     else "a faster start with the heads, unlike v3 §4" if first_gap > 0
                     else "a slower start with the heads"))
    verdict = (f"{gradient[0].upper()}{gradient[1:]}; {accuracy}; {early_part}. "
               f"{shown['data']['train']:,} images, {epochs} epoch{'s' * (epochs != 1)} ({with_aux['steps'][-1]} "
               "steps): GoogLeNet's "
               "heads were made for a 22-layer ImageNet net trained for weeks, and v3 saw their benefit only near "
               "the end of training, so a longer run would be the test of the regulariser claim.")
    shipped_norms, shipped_acc = _series(result, shipped=True) if rerun is not None else ([], [])
    norms, accuracy_series = _series(shown, shipped=False)
    rows = []
    for prefix in EARLY_LAYERS + LATE_LAYERS:
        ratios = norm_ratios(shown, (prefix,))
        rows.append((prefix, round(ratios[0], 3), round(ratios[-1], 3)))
    notes = [
        ("Not the notes' 'alternative training': the paper trains once, with total loss = main + 0.3 x (aux1 + aux2), "
         "and drops the heads at inference (they run only in training mode)."),
        ("Gradient norm of a group of layers: the root of the sum of squares of each weight's mean gradient norm "
         "over the epoch's steps (the time machine's per-parameter statistic)."),
        ("Inception v3 §4: 'the training progression of network with and without side head looks virtually "
         "identical before both models reach high accuracy'; the heads act as regularisers."),
        ("Adam (the recipe here) scales each weight's step by its own gradient history, so a stronger gradient "
         "does not mean a proportionally larger step, as it would under the paper's SGD with momentum."),
        ("The two arms differ only in the aux weight: same initial weights, batches and dropout masks, so after "
         "the first steps they follow different paths, and later epochs compare different weights."),
    ]
    if rerun is not None:
        notes.append("Dashed: the shipped result; solid: your run (figures and verdict are your run's).")
    return Outcome(
        figures=figures,
        verdict=verdict,
        tables=(Table("Gradient norm with aux 0.3 over without, by layer",
                      ("layer", "epoch 1", f"epoch {epochs} (last)"), tuple(rows)),),
        charts=(
            Chart("Gradient norm per epoch", "epoch", "gradient norm (mean over steps)",
                  tuple(shipped_norms + norms), log_y=True),
            Chart("Main head test accuracy", "epoch", "test accuracy (%)", tuple(shipped_acc + accuracy_series)),
        ),
        notes=tuple(notes),
    )


LESSON = Lesson(
    name=NAME,
    number=8,
    title="Auxiliary classifiers",
    claim=("GoogLeNet's two auxiliary classifiers add their losses (weight 0.3) to the total during one "
           "training to push a stronger gradient into the early layers; later work found they act mainly as "
           "regularisers rather than speeding up early training."),
    sources=(Source("Szegedy et al. 2015 (GoogLeNet)", "§5"),
             Source("Szegedy et al. 2016 (Inception v3)", "§4")),
    paper_figure="GoogLeNet §5; Inception v3 §4",
    look_at=("The early-layer gradient norm of the two arms in the first epochs, and the table's ratio per "
             "layer: the aux heads sit after 4a and 4d, so only the layers before them can gain. Then the main "
             "head's test accuracy: do the curves separate? In the graph the aux heads hang off 4a and 4d; the "
             "time machine shows the per-layer gradient norms of a run of your own."),
    links=(
        Link("graph", MODEL, "the first auxiliary head (after 4a)", node="aux1 (output)"),
        Link("graph", MODEL, "the second auxiliary head (after 4d)", node="aux2 (output)"),
        Link("timemachine", MODEL, "per-layer gradient norms of a run"),
        Link("training", MODEL, "train GoogLeNet with another aux weight"),
    ),
    experiment=Experiment(run=run, outcome=outcome, command=COMMAND, budget_s=BUDGET_S),
)
