"""Lesson 7: batch normalisation (Ioffe & Szegedy 2015, §4.2, Figs. 2 and 3). An experiment.

Normalising each activation over the mini-batch (then scaling and shifting it) lets a
network train in fewer steps and at higher learning rates: BN-Inception reached Inception's
best accuracy (72.2%) in less than half its steps at the same learning rate, and in 14 times
fewer at five times the rate (BN-x5). Trained here: ``vgg11_small`` without and with batch
norm after every convolution (the builder's ``batch_norm``), from the same seed, with VGG's
own recipe (§3.1: SGD, momentum 0.9, weight decay 5e-4, lr 0.01; batch 128 instead of 256,
the lr constant), then both again at five times the rate (0.05), on a 5,000-image
Fashion-MNIST subset for 15 epochs (600 steps). The measure is Fig. 3's: the steps each arm
needs to reach the plain net's best test accuracy (test accuracy read at each epoch's end).
An arm that diverges (the trainer stops it) is recorded as such, not retried.

Budget: about 300 s for the four arms, extrapolated from a two-epoch run (5.0 CPU-seconds
per epoch and arm on one thread, on the shared two-core machine at load 3.5); two quiet
cores should take less, and an arm the trainer stops ends early.
"""

from __future__ import annotations

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
from explorer.lessons.training import loss_series
from explorer.train.records import TEST_ACC

NAME = "batch-norm"
COMMAND = f"cnn-explorer lessons run {NAME}"
BUDGET_S = 300.0

MODEL = "vgg11_small"
SEED = 0
TRAIN_IMAGES, EPOCHS = 5000, 15  # and as many test images (lesson_data's subset)
QUICK_IMAGES, QUICK_EPOCHS, QUICK_BATCH = 64, 1, 32
# VGG §3.1's recipe (its batch is 256; the lr is divided by 10 only when validation stops improving).
RECIPE = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128,
          "schedule": "constant"}
HIGHER_LR = 5  # BN-x5's factor
# (batch norm, lr factor), in the order trained: the plain net first, its best accuracy is the target.
ARMS = ((False, 1), (True, 1), (True, HIGHER_LR), (False, HIGHER_LR))
# Fig. 3 (ImageNet, Inception): steps to reach 72.2% and the best accuracy reached.
PAPER_STEPS = {"Inception": 31.0e6, "BN-Baseline": 13.3e6, "BN-x5": 2.1e6}
PAPER_MAX = {"Inception": 72.2, "BN-Baseline": 72.7, "BN-x5": 73.0}
PAPER_X5_TEXT = 14  # §4.2.2: "BN-x5 needs 14 times fewer steps than Inception"
# §4.2.2: BN-Baseline matches Inception "in less than half the number of training steps" (Fig. 3).
PAPER_BASELINE_RATIO = round(PAPER_STEPS["Inception"] / PAPER_STEPS["BN-Baseline"], 1)
# A step ratio at least this large counts as faster (one evaluation per epoch makes every
# step count a multiple of an epoch's steps).
FASTER = 1.5


def arm_label(batch_norm: bool, factor: int) -> str:
    lr = RECIPE["lr"] * factor
    return f"{'BN' if batch_norm else 'no BN'}, lr {lr:g}" + (f" ({factor}x)" if factor != 1 else "")


BASELINE = arm_label(False, 1)


def run(progress: Any, quick: bool = False, should_stop: Any = None) -> dict[str, Any]:
    """Train ``vgg11_small`` with and without batch norm at VGG's lr and at five times it."""
    from explorer.lessons.training import Arm, lesson_data, train_arms
    from explorer.train.config import TrainConfig
    from explorer.train.events import TrainingError

    data = lesson_data(QUICK_IMAGES if quick else TRAIN_IMAGES)
    base = TrainConfig(model=MODEL, epochs=QUICK_EPOCHS if quick else EPOCHS, seed=SEED, val_fraction=0.0,
                       device="cpu", **RECIPE)
    if quick:
        base = base.replace(batch_size=QUICK_BATCH)
    configs = {arm_label(bn, f): base.replace(batch_norm=bn, lr=base.lr * f) for bn, f in ARMS}
    curves: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for index, (label, config) in enumerate(configs.items()):
        def arm_progress(fraction: float, text: str, index: int = index) -> None:
            progress((index + fraction) / len(configs), text)

        # One arm at a time: a rate too high for the plain net stops that arm, not the others.
        try:
            curves.update(train_arms([Arm(label, config)], data=data, progress=arm_progress, should_stop=should_stop))
        except TrainingError as exc:
            failed[label] = str(exc)
    progress(1.0, "done")
    return {
        "model": MODEL,
        "configs": {label: config.to_dict() for label, config in configs.items()},
        "data": {"train": len(data.train_labels), "test": len(data.test_labels)},
        "seed": SEED,
        "quick": quick,
        "arms": curves,
        "failed": failed,
    }


def target(result: dict[str, Any]) -> float:
    """The plain net's best test accuracy (0-1): what every arm is timed to."""
    return max(result["arms"][BASELINE][TEST_ACC])


def steps_to(result: dict[str, Any], label: str, goal: float) -> int | None:
    """Steps until the arm's test accuracy (read at each epoch's end) first reaches ``goal``;
    None when it never did or the arm failed."""
    curves = result["arms"].get(label)
    if curves is None:
        return None
    return next((s for s, a in zip(curves["steps"], curves[TEST_ACC], strict=True) if a >= goal), None)


def _unit(value: Any, unit: str) -> str:
    """``unit`` for a number; none for a word ("not reached" reads wrong with "x" after it)."""
    return unit if isinstance(value, (int, float)) else ""


def _millions(steps: float) -> str:
    return f"{steps / 1e6:.1f} million"


def _ratio(base_steps: int, steps: int | None) -> float | None:
    return base_steps / steps if steps else None


def _series(result: dict[str, Any], shipped: bool) -> tuple[list[Series], list[Series]]:
    suffix = " (shipped)" if shipped else ""
    accuracy, losses = [], []
    for bn, factor in ARMS:
        label = arm_label(bn, factor)
        curves = result["arms"].get(label)
        if curves is None:
            continue
        accuracy.append(Series(label + suffix, tuple(float(s) for s in curves["steps"]),
                               tuple(100.0 * a for a in curves[TEST_ACC]), shipped))
        losses.append(loss_series(label, curves, shipped))
    return accuracy, losses


def _speed_text(label: str, steps: int | None, base_steps: int, failed: dict[str, str]) -> str:
    if label in failed:
        return f"{label} was stopped by the trainer ({failed[label]})"
    if steps is None:
        return f"{label} never reached it"
    ratio = base_steps / steps
    return f"{label} in {steps} ({ratio:.1f}x fewer)" if ratio >= 1 else f"{label} in {steps} ({1 / ratio:.1f}x more)"


def outcome(result: dict[str, Any], rerun: dict[str, Any] | None = None) -> Outcome:
    """Figures and verdict from ``rerun`` when given (else ``result``); curves of both."""
    shown = rerun if rerun is not None else result
    failed = shown.get("failed", {})
    if BASELINE not in shown["arms"]:
        return Outcome(
            figures=(Figure("best test accuracy of the net without BN", "stopped"),),
            verdict=(f"No measure: the net without BN ({BASELINE}) was stopped by the trainer "
                     f"({failed.get(BASELINE, 'no curves')}), so there is no accuracy to time the others to."),
            notes=tuple(f"{label} was stopped by the trainer: {message}" for label, message in failed.items()),
        )
    goal = target(shown)
    base_steps = steps_to(shown, BASELINE, goal)
    bn1, bn5, plain5 = arm_label(True, 1), arm_label(True, HIGHER_LR), arm_label(False, HIGHER_LR)
    steps = {label: steps_to(shown, label, goal) for label in (bn1, bn5, plain5)}
    ratios = {label: _ratio(base_steps, s) for label, s in steps.items()}
    best = {arm_label(bn, f): 100.0 * max(shown["arms"][arm_label(bn, f)][TEST_ACC])
            for bn, f in ARMS if arm_label(bn, f) in shown["arms"]}
    # Fig. 2 is a curve from the start: where each arm stands after its first epoch.
    first = {label: 100.0 * shown["arms"][label][TEST_ACC][0] for label in best}

    def shown_ratio(label: str) -> float | str:
        if label in failed:
            return "stopped (diverged)"
        return round(ratios[label], 2) if ratios[label] is not None else "not reached"

    figures = [
        Figure("target: best test accuracy of the net without BN", round(100.0 * goal, 2), PAPER_MAX["Inception"], "%"),
        Figure("steps the net without BN took to reach it", base_steps, _millions(PAPER_STEPS["Inception"]),
               "steps"),
        Figure(f"fewer steps to the target: {bn1}, the same lr", shown_ratio(bn1), PAPER_BASELINE_RATIO,
               _unit(shown_ratio(bn1), "x")),
        Figure(f"fewer steps to the target: {bn5}", shown_ratio(bn5), PAPER_X5_TEXT, _unit(shown_ratio(bn5), "x")),
        Figure(f"best test accuracy, {bn1}", round(best[bn1], 2) if bn1 in best else "stopped",
               PAPER_MAX["BN-Baseline"], _unit(best.get(bn1), "%")),
        Figure(f"best test accuracy, {bn5}", round(best[bn5], 2) if bn5 in best else "stopped",
               PAPER_MAX["BN-x5"], _unit(best.get(bn5), "%")),
        Figure(f"fewer steps to the target: {plain5}", shown_ratio(plain5), None, _unit(shown_ratio(plain5), "x")),
    ]
    figures += [Figure(f"test accuracy after the first epoch, {label}", round(acc, 2), None, "%")
                for label, acc in first.items()]
    epochs = len(shown["arms"][BASELINE]["epoch"])
    scale = (f"{shown['data']['train']:,} training images, {epochs} epoch{'s' * (epochs != 1)} "
             f"({shown['arms'][BASELINE]['steps'][-1]} steps per arm), {shown['data']['test']:,} test images")
    reach = (f"the net without BN reached its best test accuracy, {100.0 * goal:.1f}%, in {base_steps} steps; "
             f"{_speed_text(bn1, steps[bn1], base_steps, failed)}; {_speed_text(bn5, steps[bn5], base_steps, failed)}")
    fast = [label for label in (bn1, bn5) if ratios[label] is not None and ratios[label] >= FASTER]
    if len(fast) == 2:
        verdict = (f"Reproduced: {reach} (the paper: {PAPER_BASELINE_RATIO:g}x and {PAPER_X5_TEXT}x for Inception "
                   f"on ImageNet, over millions of steps; here {scale}).")
    elif fast:
        verdict = (f"Half reproduced: {reach}. Only {fast[0]} counts as faster (at least {FASTER:g}x); {scale}.")
    else:
        verdict = (f"Not reproduced at this scale: {reach}. Over {scale} the plain, He-initialised net gets to its "
                   "best as fast without BN; the paper's gains are for Inception on ImageNet over millions of steps, "
                   "and its MNIST test (Fig. 1) uses sigmoid units, whose saturation BN is meant to prevent (§1): "
                   "saturating units or a deeper plain net would test it harder.")
    if plain5 in failed:
        verdict += (f" Without BN, {HIGHER_LR}x the rate did not train (the trainer stopped it), as §3.3 expects of "
                    "high rates without BN.")
    elif steps[plain5] is not None:
        verdict += (f" Without BN, {HIGHER_LR}x the rate also reached the target, in {steps[plain5]} steps: at this "
                    "depth the plain net tolerates it.")
    elif plain5 in best:
        verdict += f" Without BN, {HIGHER_LR}x the rate never reached the target (best {best[plain5]:.1f}%)."
    first_steps = shown["arms"][BASELINE]["steps"][0]
    verdict += (f" After the first epoch ({first_steps} steps) the test accuracies were "
                + "; ".join(f"{label} {acc:.1f}%" for label, acc in first.items()) + ".")
    paper_rows = tuple((name, _millions(PAPER_STEPS[name]), round(PAPER_STEPS["Inception"] / PAPER_STEPS[name], 1),
                        PAPER_MAX[name]) for name in PAPER_STEPS)
    rows = []
    for bn, factor in ARMS:
        label = arm_label(bn, factor)
        if label in failed:
            rows.append((label, "stopped", "-", "-"))
            continue
        got = base_steps if label == BASELINE else steps[label]
        ratio = 1.0 if label == BASELINE else ratios[label]
        rows.append((label, got if got is not None else "not reached",
                     round(ratio, 2) if ratio is not None else "-", round(best[label], 2)))
    accuracy, losses = _series(shown, False)
    shipped_accuracy, shipped_losses = _series(result, True) if rerun is not None else ([], [])
    last = float(shown["arms"][BASELINE]["steps"][-1])
    line = Series(f"target {100.0 * goal:.1f}% (no BN's best)", (0.0, last), (100.0 * goal, 100.0 * goal))
    notes = [
        ("Fig. 3's measure: the steps each net needs to reach the baseline's best accuracy. Test accuracy is read "
         "at each epoch's end here, so step counts are multiples of an epoch's steps."),
        ("BN after every convolution here, none in the FC layers; the paper's BN-x5 also dropped dropout and "
         "local response normalisation and shuffled more (§4.2.1), which this run does not do."),
    ]
    notes += [f"{label} was stopped by the trainer: {message}" for label, message in failed.items()]
    if rerun is not None:
        notes.append("Dashed: the shipped result; solid: your run (figures and verdict are your run's).")
    return Outcome(
        figures=tuple(figures),
        verdict=verdict,
        tables=(
            Table("Steps to the target (ours)", ("arm", "steps", "fewer steps than no BN (x)", "best test accuracy %"),
                  tuple(rows)),
            Table("Fig. 3 (Inception on ImageNet)", ("network", "steps to 72.2%", "fewer steps (x)", "best accuracy %"),
                  paper_rows),
        ),
        charts=(
            Chart("Test accuracy by step (Fig. 2)", "step", "test accuracy (%)",
                  tuple(shipped_accuracy + accuracy + [line])),
            Chart("Smoothed training loss per step", "step", "batch loss (smoothed)",
                  tuple(shipped_losses + losses), log_y=True),
        ),
        notes=tuple(notes),
    )


LESSON = Lesson(
    name=NAME,
    number=7,
    title="Batch normalisation",
    claim=("Normalising each activation over the mini-batch, then scaling and shifting it, lets a network "
           "reach the same accuracy in far fewer steps and train at learning rates that would otherwise diverge."),
    sources=(Source("Ioffe & Szegedy 2015 (Batch Normalization)", "§4.2, Figs. 2 and 3"),
             Source("Ioffe & Szegedy 2015 (Batch Normalization)", "§3.3, higher learning rates"),
             Source("Simonyan & Zisserman 2015 (VGG)", "§3.1, the training recipe used here")),
    paper_figure="BN paper Fig. 3 (steps to Inception's 72.2%)",
    look_at=("The test-accuracy curves against the target line: where each crosses it. Then the loss curves' "
             "first hundred steps, where batch norm makes the most difference. In BN-Inception's graph, every "
             "convolution is followed by its batch norm."),
    links=(
        Link("graph", "inception_v2_small", "BN-Inception: batch norm after every convolution", node="conv2_bn"),
        Link("graph", "vgg11_small", "the network trained here (shown without batch norm)", node="features.conv1_1"),
        Link("training", "vgg11_small", "train vgg11_small yourself, with and without batch norm"),
    ),
    experiment=Experiment(run=run, outcome=outcome, command=COMMAND, budget_s=BUDGET_S),
)
