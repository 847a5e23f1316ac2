"""Lesson 4: dropout on the fully connected layers (AlexNet §4.2). An experiment.

AlexNet drops each output of its first two FC layers with probability 0.5 while training
("without dropout, our network exhibits substantial overfitting"; it "roughly doubles the
number of iterations required to converge"). Why there: the FC layers hold most of the
parameters, counted here from the real modules (the reference AlexNet and ``alexnet_small``,
on the meta device). Trained here: ``alexnet_small`` twice from the same initial weights,
with dropout 0.5 on fc6 and fc7 (the builder's default) and with dropout 0, on a
1,500-image Fashion-MNIST subset for 30 epochs (360 steps) with the AlexNet family's default
recipe (Adam, lr 1e-3, one-cycle, batch 128), so that the net without dropout overfits.
The result is each arm's train and test accuracy per epoch, and each trained net's accuracy
on its training images measured without dropout (eval mode), which the gap uses.

Budget: 234 s for both arms as shipped (``lessons run dropout --ship`` alone on the two
quiet cores, load average 0.9 at the start); an earlier run on one thread each, two
experiments at once at load 2.6-3.3, took 703 s. ``alexnet_small``'s LRN layers make it
about five times slower per image than ``vgg11_small``.
"""

from __future__ import annotations

import functools
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
from explorer.lessons.training import end_numbers, train_test_series
from explorer.train.records import TEST_ACC, TEST_LOSS, TRAIN_ACC

NAME = "dropout"
COMMAND = f"cnn-explorer lessons run {NAME}"
BUDGET_S = 240.0

MODEL = "alexnet_small"
REFERENCE = "alexnet"
P = 0.5  # AlexNet §4.2 and the builder's default
SEED = 0
TRAIN_IMAGES, EPOCHS = 1500, 30  # and as many test images (lesson_data's subset)
QUICK_IMAGES, QUICK_EPOCHS, QUICK_BATCH = 64, 1, 32
# The AlexNet family's default recipe (explorer/train/recipes.py), unchanged.
RECIPE = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "schedule": "onecycle"}
# "Converged" for the iteration count: the running training accuracy reaches this share.
CONVERGED_ACC = 0.95
# Two test accuracies closer than this (points) count as the same: both nets answer the same
# 1,500 test images, and where about 10% of them get different answers, the standard error
# of the difference is about 0.8 points.
TIE_POINTS = 1.0
# The notes' "1-2 point gain, even for strong models": a textbook figure, not a paper's.
TEXTBOOK_GAIN = "1-2"
# §4.2: dropout "roughly doubles the number of iterations required to converge".
PAPER_CONVERGENCE = 2
# Share of the progress bar the training takes; the eval-mode pass over the training images the rest.
TRAIN_SHARE = 0.97


def arm_label(dropout: bool) -> str:
    return f"dropout {P:g}" if dropout else "no dropout"


@functools.cache
def fc_share(model: str) -> tuple[int, int]:
    """(parameters in the model's fully connected layers, all parameters), counted from
    the registry's module built on the meta device."""
    from torch import nn

    from explorer.models import get_model
    from explorer.models.meta import meta_device

    with meta_device():
        net = get_model(model)
    fc = sum(p.numel() for m in net.modules() if isinstance(m, nn.Linear) for p in m.parameters(recurse=False))
    return fc, sum(p.numel() for p in net.parameters())


def run(progress: Any, quick: bool = False, should_stop: Any = None) -> dict[str, Any]:
    """Train ``alexnet_small`` with and without dropout from the same weights; the raw result."""
    from explorer.lessons.training import lesson_data, train_from_one_start
    from explorer.train.config import TrainConfig

    should_stop = should_stop or (lambda: False)
    data = lesson_data(QUICK_IMAGES if quick else TRAIN_IMAGES)
    base = TrainConfig(model=MODEL, epochs=QUICK_EPOCHS if quick else EPOCHS, seed=SEED, val_fraction=0.0,
                       device="cpu", **RECIPE)
    if quick:
        base = base.replace(batch_size=QUICK_BATCH)
    configs = {arm_label(d): base.replace(dropout=P if d else 0.0) for d in (True, False)}
    curves, clean = train_from_one_start(configs, MODEL, data, progress, should_stop, seed=SEED, share=TRAIN_SHARE,
                                         clean_text="accuracy on the training images, without dropout")
    progress(1.0, "done")
    return {
        "model": MODEL,
        "p": P,
        "configs": {label: config.to_dict() for label, config in configs.items()},
        "data": {"train": len(data.train_labels), "test": len(data.test_labels)},
        "seed": SEED,
        "quick": quick,
        "arms": curves,
        "train_acc_eval_mode": clean,
    }


def steps_to_converge(result: dict[str, Any], label: str) -> int | None:
    """Steps until the arm's running training accuracy first reaches ``CONVERGED_ACC`` (at an
    epoch's end); None when it never did."""
    curves = result["arms"][label]
    return next((s for s, a in zip(curves["steps"], curves[TRAIN_ACC], strict=True) if a >= CONVERGED_ACC), None)


def _series(result: dict[str, Any], shipped: bool) -> list[Series]:
    return [series for dropout in (True, False)
            for series in train_test_series(arm_label(dropout), result["arms"][arm_label(dropout)], shipped)]


def _gap_series(result: dict[str, Any], shipped: bool) -> list[Series]:
    suffix = " (shipped)" if shipped else ""
    out = []
    for dropout in (True, False):
        label = arm_label(dropout)
        curves = result["arms"][label]
        out.append(Series(label + suffix, tuple(float(e) for e in curves["epoch"]),
                          tuple(100.0 * (a - t) for a, t in zip(curves[TRAIN_ACC], curves[TEST_ACC], strict=True)),
                          shipped))
    return out


def _share_text(fc: int, total: int) -> str:
    return f"{fc:,} of {total:,}"


def outcome(result: dict[str, Any], rerun: dict[str, Any] | None = None) -> Outcome:
    """Figures and verdict from ``rerun`` when given (else ``result``); curves of both."""
    from explorer.train.evaluation import OVERFIT_GAP

    shown = rerun if rerun is not None else result
    on, off = arm_label(True), arm_label(False)
    with_p, without = end_numbers(shown, on), end_numbers(shown, off)
    gain = with_p["test"] - without["test"]
    ref_fc, ref_total = fc_share(REFERENCE)
    small_fc, small_total = fc_share(shown["model"])
    steps_on, steps_off = steps_to_converge(shown, on), steps_to_converge(shown, off)
    ratio = steps_on / steps_off if steps_on and steps_off else None
    figures = [
        Figure("share of parameters in the FC layers, AlexNet (paper's net)", round(100.0 * ref_fc / ref_total, 1),
               None, "%"),
        Figure(f"share of parameters in the FC layers, {shown['model']}", round(100.0 * small_fc / small_total, 1),
               None, "%"),
        Figure("final test accuracy, no dropout", round(without["test"], 2), None, "%"),
        Figure(f"final test accuracy, dropout {P:g}", round(with_p["test"], 2), None, "%"),
        Figure("test accuracy gained by dropout (beside it: the notes' textbook figure, not a paper's)",
               round(gain, 2), TEXTBOOK_GAIN, "points"),
        Figure("train - test accuracy at the end, no dropout (§4.2: \"substantial overfitting\")",
               round(without["gap"], 2), None, "points"),
        Figure(f"train - test accuracy at the end, dropout {P:g}", round(with_p["gap"], 2), None, "points"),
        Figure("test loss at the end, no dropout", round(without[TEST_LOSS], 3)),
        Figure(f"test loss at the end, dropout {P:g}", round(with_p[TEST_LOSS], 3)),
        Figure(f"steps to {CONVERGED_ACC:.0%} running training accuracy, dropout / no dropout (§4.2: \"roughly "
               "doubles\")", round(ratio, 2) if ratio is not None else "not reached", PAPER_CONVERGENCE,
               "x" if ratio is not None else ""),
    ]
    epochs = len(shown["arms"][off]["epoch"])
    scale = (f"{shown['data']['train']:,} training images, {epochs} epoch{'s' * (epochs != 1)} "
             f"({shown['arms'][off]['steps'][-1]} steps), {shown['data']['test']:,} test images")
    numbers = (f"without dropout {shown['model']} ends at {without['train_eval']:.1f}% on its training images and "
               f"{without['test']:.1f}% on the test images (gap {without['gap']:.1f} points); with dropout {P:g} at "
               f"{with_p['train_eval']:.1f}% and {with_p['test']:.1f}% (gap {with_p['gap']:.1f})")
    overfits = without["gap"] >= 100.0 * OVERFIT_GAP
    narrower = with_p["gap"] < without["gap"] - TIE_POINTS
    if not overfits:
        verdict = (f"Not reproduced at this scale: {numbers}. The net without dropout hardly overfits after "
                   f"{scale}, so there is little for dropout to fix; fewer images or more epochs would make it "
                   "overfit.")
    elif narrower and gain > TIE_POINTS:
        verdict = (f"Reproduced: {numbers}. Dropout narrows the gap and gains {gain:.1f} points of test accuracy "
                   f"(the notes' textbook 1-2 points is not a paper's number); {scale}.")
    elif narrower:
        moved = (f"test accuracy moves by only {gain:+.1f} points (within {TIE_POINTS:g}: the same)"
                 if gain >= -TIE_POINTS else f"it costs {-gain:.1f} points of test accuracy")
        verdict = (f"Half reproduced: {numbers}. Without dropout the net overfits and dropout narrows the gap, but "
                   f"{moved} after {scale}; dropout slows training, so more epochs may be what its gain needs.")
    elif gain > TIE_POINTS:
        verdict = (f"Half reproduced: {numbers}. Dropout gains {gain:.1f} points of test accuracy, but the gap does "
                   f"not narrow after {scale}.")
    else:
        verdict = (f"Not reproduced: {numbers}. Without dropout the net overfits, but dropout neither narrows the gap "
                   f"nor gains test accuracy after {scale}.")
    if ratio is not None:
        verdict += (f" With dropout it took {ratio:.1f}x the steps to reach {CONVERGED_ACC:.0%} training accuracy "
                    "(AlexNet: about 2x).")
    elif steps_off is not None:
        verdict += (f" With dropout the running training accuracy never reached {CONVERGED_ACC:.0%} "
                    f"(without it, in {steps_off} steps): dropout slows convergence, as §4.2 says.")
    elif steps_on is None:
        verdict += (f" Neither net's running training accuracy reached {CONVERGED_ACC:.0%}, so the iteration count "
                    "(§4.2: dropout roughly doubles it) is not measured at this length.")
    else:
        verdict += (f" With dropout the running training accuracy reached {CONVERGED_ACC:.0%} in {steps_on} steps; "
                    "without it, never.")
    verdict += (f" The test loss ends at {without[TEST_LOSS]:.2f} without dropout (lowest "
                f"{without['lowest_test_loss']:.2f}) and {with_p[TEST_LOSS]:.2f} with it (lowest "
                f"{with_p['lowest_test_loss']:.2f}).")
    rows = tuple(
        (label, round(n["train"], 2), round(n["train_eval"], 2), round(n["test"], 2), round(n["gap"], 2),
         steps_to_converge(shown, label) or "not reached")
        for label, n in ((on, with_p), (off, without))
    )
    notes = [
        (f"Where the parameters are: AlexNet's FC layers hold {_share_text(ref_fc, ref_total)} parameters; "
         f"{shown['model']}'s hold {_share_text(small_fc, small_total)} (narrower convolutions and FC layers, "
         "and a 2x2 grid before the FC layers instead of 6x6). Dropout there regularises most of the "
         "weights; the convolutions share theirs across positions."),
        ("The running training accuracy (the chart's train curves) is measured while the net trains, so with "
         "dropout half the FC units are missing; the gap figures use each net's accuracy on its training images "
         "in eval mode (nothing dropped), as at test time."),
        ("Nothing is dropped after training: PyTorch's dropout scales the kept units by 1/(1-p) while training, "
         "so the eval-mode net needs no rescaling (the paper halves the outputs at test time instead)."),
    ]
    if rerun is not None:
        notes.append("Dashed: the shipped result; solid: your run (figures and verdict are your run's).")
    shipped = (_series(result, True), _gap_series(result, True)) if rerun is not None else ([], [])
    return Outcome(
        figures=tuple(figures),
        verdict=verdict,
        tables=(Table("After the last epoch (%)",
                      ("arm", "train (running)", "train (eval mode)", "test", "gap", f"steps to {CONVERGED_ACC:.0%}"),
                      rows),),
        charts=(
            Chart("Train and test accuracy per epoch", "epoch", "accuracy (%)",
                  tuple(shipped[0] + _series(shown, False))),
            Chart("Running train accuracy minus test accuracy", "epoch", "gap (points)",
                  tuple(shipped[1] + _gap_series(shown, False))),
        ),
        notes=tuple(notes),
    )


LESSON = Lesson(
    name=NAME,
    number=4,
    title="Dropout on the FC layers",
    claim=("Dropping each hidden unit of the fully connected layers with probability 0.5 while training "
           "stops a large network from overfitting; it is used there because the FC layers hold most of "
           "the parameters."),
    sources=(Source("Krizhevsky, Sutskever & Hinton 2012 (AlexNet)", "§4.2"),),
    paper_figure="AlexNet §4.2 (dropout 0.5 in the first two FC layers)",
    look_at=("The two test curves against the two train curves: without dropout the train curve runs away "
             "from the test curve; with it they stay closer. In the graph, dropout6 and dropout7 follow fc6 "
             "and fc7, the layers that hold most of the weights."),
    links=(
        Link("graph", "alexnet_small", "dropout after fc6 in the small AlexNet", node="dropout6"),
        Link("graph", "alexnet", "fc6, the largest layer of the paper's AlexNet", node="fc6"),
        Link("training", "alexnet_small", "train alexnet_small yourself, with and without dropout"),
    ),
    experiment=Experiment(run=run, outcome=outcome, command=COMMAND, budget_s=BUDGET_S),
)
