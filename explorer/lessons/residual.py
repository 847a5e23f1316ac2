"""Lesson 6: residual learning (He et al. 2016, §4.2, Fig. 6). An experiment.

Deeper plain nets train worse: their *training* error is higher (degradation, so not
overfitting); the same nets with identity shortcuts do not. Trained here: the paper's CIFAR
networks (``cifar_nets``: 3x3 conv 16, three stages of 2n 3x3 layers with 16/32/64 filters
on 28/14/7 maps, global average pooling, FC 10; BN after each conv; option A shortcuts),
plain and residual, shallow and deep, on a Fashion-MNIST subset with the paper's SGD (lr
0.1, momentum 0.9, weight decay 1e-4, batch 128; its lr drops come at 32k iterations, far
beyond this run, so the lr stays constant here). The result is each arm's training-error
curve; the verdict compares the final training errors.

Budget: 254 s for the four arms as shipped (``lessons run residual-learning --ship`` alone
on the two quiet cores, load average 1.9 at the start); an earlier run on one thread, two
experiments at once at load 1.6-2.8, took 753 s. 56 layers cost three times the arithmetic
of 20; 3,000 images for 7 epochs are 168 steps per arm.
"""

from __future__ import annotations

import dataclasses
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
from explorer.train.records import TEST_ACC, TRAIN_ACC

NAME = "residual-learning"
COMMAND = f"cnn-explorer lessons run {NAME}"
BUDGET_S = 260.0

# The shallow and the deep depth of Fig. 6's extremes; quick runs use 8 and 14 layers.
DEPTHS = (20, 56)
QUICK_DEPTHS = (8, 14)
SEED = 0
TRAIN_IMAGES, TEST_IMAGES, EPOCHS = 3000, 1000, 7
QUICK_TRAIN_IMAGES, QUICK_EPOCHS = 64, 1
# §4.2's recipe; "constant": its first lr drop is at 32k iterations.
RECIPE = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 128, "schedule": "constant"}
QUICK_BATCH = 32
# Two final training errors closer than this (percentage points) count as the same: the
# running accuracy of one epoch over 3,000 images at 10% error has a binomial spread of
# about 0.55 points.
TIE_POINTS = 0.5

# Table 6 (CIFAR-10, 3-channel input): parameters of ResNet-20 and ResNet-56.
PAPER_PARAMS = {20: "0.27M", 56: "0.85M"}
# §4.2 and Fig. 6 (left): plain-56 has higher training error than plain-20 throughout; (right)
# ResNet-56 ends below ResNet-20 (its Table 6 test errors: 8.75% for 20, 6.97% for 56).
PAPER_ITERATIONS = 64_000


def arm_label(depth: int, residual: bool) -> str:
    return f"{'ResNet' if residual else 'plain'}-{depth}"


def run(progress: Any, quick: bool = False, should_stop: Any = None) -> dict[str, Any]:
    """Train plain and residual nets at the shallow and the deep depth; the raw result."""
    import torch

    from explorer.lessons.cifar_nets import cifar_net
    from explorer.lessons.training import Arm, lesson_data, train_arms
    from explorer.train.config import TrainConfig

    depths = QUICK_DEPTHS if quick else DEPTHS
    images = QUICK_TRAIN_IMAGES if quick else TRAIN_IMAGES
    data = lesson_data(images)
    test = min(len(data.test_labels), images if quick else TEST_IMAGES)
    data = dataclasses.replace(data, test_images=data.test_images[:test], test_labels=data.test_labels[:test])
    config = TrainConfig(model="cifar_resnet", epochs=QUICK_EPOCHS if quick else EPOCHS, seed=SEED,
                         val_fraction=0.0, device="cpu", **RECIPE)
    if quick:
        config = config.replace(batch_size=QUICK_BATCH)
    arms, params = [], {}
    for residual in (False, True):
        for depth in depths:
            label = arm_label(depth, residual)
            torch.manual_seed(SEED)
            model = cifar_net(depth, residual=residual)
            params[label] = sum(p.numel() for p in model.parameters())
            arms.append(Arm(label, config.replace(model=label), model=model))
    curves = train_arms(arms, data=data, progress=progress, should_stop=should_stop)
    return {
        "depths": list(depths),
        "config": config.to_dict(),
        "data": {"train": len(data.train_labels), "test": test},
        "seed": SEED,
        "quick": quick,
        "shortcut": "A",
        "params": params,
        "arms": curves,
    }


def final_error(result: dict[str, Any], label: str) -> float:
    """The arm's training error after its last epoch, in percent (1 - training accuracy)."""
    return 100.0 * (1.0 - result["arms"][label][TRAIN_ACC][-1])


def _series(result: dict[str, Any], shipped: bool) -> tuple[list[Series], list[Series]]:
    errors, losses = [], []
    suffix = " (shipped)" if shipped else ""
    for residual in (False, True):
        for depth in result["depths"]:
            label = arm_label(depth, residual)
            curves = result["arms"][label]
            errors.append(Series(label + suffix, tuple(float(e) for e in curves["epoch"]),
                                 tuple(100.0 * (1.0 - a) for a in curves[TRAIN_ACC]), shipped))
            losses.append(loss_series(label, curves, shipped))
    return errors, losses


def _compare(gap: float) -> str:
    if gap > TIE_POINTS:
        return "higher than"
    if gap < -TIE_POINTS:
        return "lower than"
    return "about the same as"


def outcome(result: dict[str, Any], rerun: dict[str, Any] | None = None) -> Outcome:
    """Figures and verdict from ``rerun`` when given (else ``result``); curves of both."""
    shown = rerun if rerun is not None else result
    shallow, deep = shown["depths"]
    err = {arm_label(d, r): final_error(shown, arm_label(d, r)) for r in (False, True) for d in (shallow, deep)}
    plain_gap = err[arm_label(deep, False)] - err[arm_label(shallow, False)]
    res_gap = err[arm_label(deep, True)] - err[arm_label(shallow, True)]
    steps = shown["arms"][arm_label(deep, False)]["steps"][-1]
    figures = [Figure(f"final training error, {label}", round(value, 2), None, "%") for label, value in err.items()]
    figures += [
        Figure(f"plain-{deep} minus plain-{shallow}, final training error", round(plain_gap, 2),
               "above 0 (Fig. 6 left)", "points"),
        Figure(f"ResNet-{deep} minus ResNet-{shallow}, final training error", round(res_gap, 2),
               "below 0 (Fig. 6 right)", "points"),
    ]
    for depth in (shallow, deep):
        figures.append(Figure(f"parameters, ResNet-{depth} (option A, 1 input channel)",
                              shown["params"][arm_label(depth, True)], PAPER_PARAMS.get(depth)))

    degraded = plain_gap > TIE_POINTS
    healed = res_gap <= TIE_POINTS
    epochs = len(shown["arms"][arm_label(deep, False)]["epoch"])
    scale = (f"{steps} steps on {shown['data']['train']:,} images ({epochs} epoch{'s' * (epochs != 1)}), "
             f"against the paper's {PAPER_ITERATIONS:,} iterations on 50,000")
    numbers = (f"plain-{deep} ends at {err[arm_label(deep, False)]:.1f}% training error, "
               f"{_compare(plain_gap)} plain-{shallow}'s {err[arm_label(shallow, False)]:.1f}% "
               f"({plain_gap:+.1f} points); ResNet-{deep} ends at {err[arm_label(deep, True)]:.1f}%, "
               f"{_compare(res_gap)} ResNet-{shallow}'s {err[arm_label(shallow, True)]:.1f}% ({res_gap:+.1f})")
    if degraded and healed:
        verdict = (f"Reproduced at this scale: {numbers}. The deeper plain net trains worse; with shortcuts "
                   f"the extra depth costs nothing ({scale}).")
    elif degraded:
        verdict = (f"Half reproduced: {numbers}. Degradation shows in the plain nets, but the deeper ResNet "
                   f"has not yet caught up with the shallower one after {scale}; in Fig. 6 ResNet-56 passes "
                   "ResNet-20 only later, so more iterations would decide it.")
    else:
        verdict = (f"Not reproduced at this scale: {numbers}. After {scale} the deeper plain net does not train "
                   "worse; the paper's gap opens over tens of thousands of iterations, so longer training "
                   "(more epochs or images) is what would show it, if it shows here at all.")
    shipped_errors, shipped_losses = _series(result, shipped=True) if rerun is not None else ([], [])
    errors, losses = _series(shown, shipped=False)
    rows = tuple(
        (label, shown["params"][label], round(err[label], 2),
         round(100.0 * (1.0 - shown["arms"][label][TEST_ACC][-1]), 2))
        for label in err
    )
    notes = [
        ("Option A shortcuts (subsample by 2 and pad with zero channels where the stage changes) add no "
         "parameters, so each plain net has exactly its ResNet's parameters."),
        "Degradation is about optimisation, not overfitting: compare training errors, not test errors.",
        ("Training error: 1 - the running accuracy over each epoch's batches in training mode, as the engine "
         "reports it (the paper's thin curves are training error during training too)."),
        ("Not as in §4.2: no flip-and-crop augmentation, Fashion-MNIST's 28x28 grey images instead of CIFAR-10's "
         "32x32 colour ones, and a constant lr (the paper's first drop comes at 32k iterations)."),
    ]
    if rerun is not None:
        notes.append("Dashed: the shipped result; solid: your run (figures and verdict are your run's).")
    return Outcome(
        figures=tuple(figures),
        verdict=verdict,
        tables=(Table("Final epoch", ("net", "parameters", "training error %", "test error %"), rows),),
        charts=(
            Chart("Training error per epoch (Fig. 6: thin curves)", "epoch", "training error (%)",
                  tuple(shipped_errors + errors)),
            Chart("Smoothed training loss per step", "step", "batch loss (smoothed)",
                  tuple(shipped_losses + losses), log_y=True),
        ),
        notes=tuple(notes),
    )


LESSON = Lesson(
    name=NAME,
    number=6,
    title="Residual learning",
    claim=("Stacking more layers on a plain network makes its training error go up (degradation); adding "
           "identity shortcuts, so each pair of layers learns a residual F(x) = H(x) - x, removes it."),
    sources=(Source("He, Zhang, Ren & Sun 2016 (ResNet)", "§4.2, Fig. 6, Table 6"),
             Source("He, Zhang, Ren & Sun 2016 (ResNet)", "§3.3, shortcut options A and B")),
    paper_figure="ResNet Fig. 6 (CIFAR-10 plain and residual nets)",
    look_at=("The training-error curves: the two plain nets against each other (does the deeper one sit "
             "higher?) and the two ResNets against each other. In the zoo's ResNet-18 graph, the add node "
             "joins a block's two convs to its input; where a stage halves the map, the zoo uses a 1x1 "
             "projection (option B), while the nets trained here pad with zeros (option A)."),
    links=(
        Link("graph", "resnet18_small", "a residual block's add in ResNet-18", node="layer1.0 (add)"),
        Link("graph", "resnet18_small", "a projection shortcut where the stage changes", node="layer2.0 (add)"),
        Link("training", "resnet18_small", "train a ResNet yourself"),
    ),
    experiment=Experiment(run=run, outcome=outcome, command=COMMAND, budget_s=BUDGET_S),
)
