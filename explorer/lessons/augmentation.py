"""Lesson 5: data augmentation (AlexNet §4.1). An experiment.

AlexNet enlarges its training set with image translations and horizontal reflections
(random 224x224 patches of the 256x256 images and their mirror images: 2,048 copies of
each) and PCA colour shifts; without the first, "our network suffers from substantial
overfitting". Here the app's own augmentation does it: ``explorer.train.augment``'s
``prepare_batch`` flips a random half of each batch and shifts every image by up to
``shift`` pixels (zero fill), as ``TrainConfig(augment=True)`` trains. Trained here:
``vgg11_small`` twice from the same initial weights, with and without augmentation, on a
2,000-image Fashion-MNIST subset for 50 epochs (800 steps) with the VGG family's default
recipe (Adam, lr 1e-3, one-cycle, batch 128, dropout 0.5 in both arms). ``vgg11_small``
rather than ``alexnet_small``: an epoch costs it about a fifth as much here (AlexNet's LRN
layers are slow on a CPU), and augmentation needs epochs. The result holds each arm's
curves, each trained net's accuracy on its (unaugmented) training images in eval mode, and
a few training images with augmented copies made by ``prepare_batch`` itself.

Budget: about 225 s for both arms, extrapolated from a two-epoch run (2.2 CPU-seconds per
epoch and arm on one thread, on the shared two-core machine at load 3.5); two quiet cores
should take less.
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
    Picture,
    Series,
    Source,
    Table,
)
from explorer.lessons.training import end_numbers, train_test_series
from explorer.train.records import TEST_LOSS

NAME = "augmentation"
COMMAND = f"cnn-explorer lessons run {NAME}"
BUDGET_S = 225.0

MODEL = "vgg11_small"
SHIFT = 2  # TrainConfig's default: up to 2 of 28 pixels
SEED = 0
TRAIN_IMAGES, EPOCHS = 2000, 50  # and as many test images (lesson_data's subset)
QUICK_IMAGES, QUICK_EPOCHS, QUICK_BATCH = 64, 1, 32
# The VGG family's default recipe (explorer/train/recipes.py), unchanged.
RECIPE = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "schedule": "onecycle"}
# Training images shown, each with this many augmented copies.
SAMPLES, COPIES = 4, 4
# The shown pictures are scaled up by whole pixels, so the page draws them unblurred.
PICTURE_SCALE = 2
# AlexNet §4.1: 224x224 patches of 256x256 images (32 x 32 positions) and their reflections.
PAPER_COPIES = 2048
# Two test accuracies closer than this (points) count as the same: both nets answer the same
# 2,000 test images, and where about 10% of them get different answers, the standard error
# of the difference is about 0.7 points.
TIE_POINTS = 1.0
# Share of the progress bar the training takes; the eval-mode pass over the training images the rest.
TRAIN_SHARE = 0.97


def arm_label(augment: bool) -> str:
    return f"flip + shift {SHIFT} px" if augment else "no augmentation"


def copies_per_image(shift: int) -> int:
    """Distinct augmented versions of one image: every shift in x and y, each mirrored or not."""
    return (2 * shift + 1) ** 2 * 2


def augmented_samples(images: Any, labels: Any, count: int, copies: int, shift: int, seed: int) -> list[dict[str, Any]]:
    """The first ``count`` training images of distinct classes, each with ``copies`` versions
    made by the trainer's own ``prepare_batch`` (flip and shift), as 28x28 lists of 0-255 ints."""
    import torch

    from explorer.train.augment import prepare_batch
    from explorer.train.data import CLASS_NAMES

    first_of_class: dict[int, int] = {}
    for index, label in enumerate(labels.tolist()):
        first_of_class.setdefault(label, index)
        if len(first_of_class) == count:
            break
    chosen = list(first_of_class.values())
    originals = images[chosen]
    generator = torch.Generator(device=images.device).manual_seed(seed)
    # mean 0, std 1: the [0, 1] pixels the trainer makes before it normalises
    batch = prepare_batch(originals.repeat(copies, 1, 1), mean=0.0, std=1.0, flip=True, shift=shift,
                          generator=generator)
    made = batch.mul(255.0).round().to(torch.uint8)[:, 0].view(copies, len(chosen), *originals.shape[1:])
    return [{"class": CLASS_NAMES[int(labels[i])], "original": originals[k].tolist(),
             "augmented": [made[c, k].tolist() for c in range(copies)]}
            for k, i in enumerate(chosen)]


def run(progress: Any, quick: bool = False, should_stop: Any = None) -> dict[str, Any]:
    """Train ``vgg11_small`` with and without flips and shifts from the same weights."""
    from explorer.lessons.training import lesson_data, train_from_one_start
    from explorer.train.config import TrainConfig

    should_stop = should_stop or (lambda: False)
    data = lesson_data(QUICK_IMAGES if quick else TRAIN_IMAGES)
    base = TrainConfig(model=MODEL, epochs=QUICK_EPOCHS if quick else EPOCHS, seed=SEED, val_fraction=0.0,
                       device="cpu", shift=SHIFT, **RECIPE)
    if quick:
        base = base.replace(batch_size=QUICK_BATCH)
    configs = {arm_label(a): base.replace(augment=a) for a in (True, False)}
    samples = augmented_samples(data.train_images, data.train_labels, SAMPLES, COPIES, SHIFT, SEED)
    curves, clean = train_from_one_start(configs, MODEL, data, progress, should_stop, seed=SEED, share=TRAIN_SHARE,
                                         clean_text="accuracy on the training images, unaugmented")
    progress(1.0, "done")
    return {
        "model": MODEL,
        "shift": SHIFT,
        "configs": {label: config.to_dict() for label, config in configs.items()},
        "data": {"train": len(data.train_labels), "test": len(data.test_labels)},
        "seed": SEED,
        "quick": quick,
        "arms": curves,
        "train_acc_eval_mode": clean,
        "samples": samples,
    }


def mosaic(samples: list[dict[str, Any]], scale: int = PICTURE_SCALE) -> tuple[tuple[int, ...], ...]:
    """One picture: a row per sample, its image then its augmented copies, on grey gutters
    (wider after the image), every pixel repeated ``scale`` times each way."""
    gutter, wide, grey = 2, 6, 128
    rows: list[list[int]] = []
    for index, sample in enumerate(samples):
        if index:
            width = len(rows[0])
            rows.extend([grey] * width for _ in range(gutter))
        tiles = [sample["original"], *sample["augmented"]]
        for y in range(len(tiles[0])):
            row: list[int] = []
            for t, tile in enumerate(tiles):
                if t:
                    row.extend([grey] * (wide if t == 1 else gutter))
                row.extend(tile[y])
            rows.append(row)
    return tuple(tuple(v for v in row for _ in range(scale)) for row in rows for _ in range(scale))


def _series(result: dict[str, Any], shipped: bool) -> tuple[list[Series], list[Series]]:
    suffix = " (shipped)" if shipped else ""
    accuracy, loss = [], []
    for augment in (True, False):
        label = arm_label(augment)
        curves = result["arms"][label]
        epochs = tuple(float(e) for e in curves["epoch"])
        accuracy.extend(train_test_series(label, curves, shipped))
        loss.append(Series(label + suffix, epochs, tuple(float(v) for v in curves[TEST_LOSS]), shipped))
    return accuracy, loss


def outcome(result: dict[str, Any], rerun: dict[str, Any] | None = None) -> Outcome:
    """Figures and verdict from ``rerun`` when given (else ``result``); curves of both."""
    shown = rerun if rerun is not None else result
    on, off = arm_label(True), arm_label(False)
    aug, plain = end_numbers(shown, on), end_numbers(shown, off)
    gain = aug["test"] - plain["test"]
    figures = [
        Figure("distinct augmented copies of one image (shifts x mirror)", copies_per_image(shown["shift"]),
               PAPER_COPIES),
        Figure("final test accuracy, no augmentation", round(plain["test"], 2), None, "%"),
        Figure(f"final test accuracy, {on}", round(aug["test"], 2), None, "%"),
        Figure("test accuracy gained by augmentation", round(gain, 2), None, "points"),
        Figure("train - test accuracy at the end, no augmentation (§4.1: \"substantial overfitting\")",
               round(plain["gap"], 2), None, "points"),
        Figure(f"train - test accuracy at the end, {on}", round(aug["gap"], 2), None, "points"),
        Figure("test loss at the end, no augmentation", round(plain[TEST_LOSS], 3)),
        Figure(f"test loss at the end, {on}", round(aug[TEST_LOSS], 3)),
    ]
    epochs = len(shown["arms"][off]["epoch"])
    scale = (f"{shown['data']['train']:,} training images, {epochs} epoch{'s' * (epochs != 1)} "
             f"({shown['arms'][off]['steps'][-1]} steps), {shown['data']['test']:,} test images")
    numbers = (f"without augmentation {shown['model']} ends at {plain['train_eval']:.1f}% on its training images and "
               f"{plain['test']:.1f}% on the test images (gap {plain['gap']:.1f} points); with flips and shifts at "
               f"{aug['train_eval']:.1f}% and {aug['test']:.1f}% (gap {aug['gap']:.1f})")
    narrower = aug["gap"] < plain["gap"] - TIE_POINTS
    if narrower and gain > TIE_POINTS:
        verdict = (f"Reproduced: {numbers}. Augmentation narrows the gap and gains {gain:.1f} points of test "
                   f"accuracy; {scale}.")
    elif narrower:
        moved = (f"test accuracy moves by only {gain:+.1f} points (within {TIE_POINTS:g}: the same)"
                 if gain >= -TIE_POINTS else f"it costs {-gain:.1f} points of test accuracy")
        verdict = (f"Half reproduced: {numbers}. Augmentation narrows the gap, but {moved} after {scale}: the "
                   "augmented net fits its harder training set more slowly, and its gain may need more epochs "
                   "(AlexNet trained for about 90).")
    elif gain > TIE_POINTS:
        verdict = (f"Half reproduced: {numbers}. Augmentation gains {gain:.1f} points of test accuracy, but the gap "
                   f"does not narrow after {scale}.")
    else:
        verdict = (f"Not reproduced at this scale: {numbers}. Augmentation neither narrows the gap nor gains test "
                   f"accuracy after {scale}; fewer images, more epochs or larger shifts would test it harder.")
    verdict += (f" The test loss ends at {plain[TEST_LOSS]:.2f} without augmentation (lowest "
                f"{plain['lowest_test_loss']:.2f}) and {aug[TEST_LOSS]:.2f} with it (lowest "
                f"{aug['lowest_test_loss']:.2f}).")
    rows = tuple((label, round(n["train"], 2), round(n["train_eval"], 2), round(n["test"], 2), round(n["gap"], 2))
                 for label, n in ((on, aug), (off, plain)))
    accuracy, loss = _series(shown, False)
    shipped_accuracy, shipped_loss = _series(result, True) if rerun is not None else ([], [])
    notes = [
        (f"The pictures are made by the trainer's own prepare_batch: a random half of the copies mirrored, each "
         f"shifted by up to {shown['shift']} pixels in x and y, with black (Fashion-MNIST's background) filling in."),
        ("AlexNet's one number in §4.1, over 1% less top-1 error, is for its PCA colour shifts, which grey "
         "Fashion-MNIST cannot have: nothing here measures it."),
        ("The running train accuracy (the chart's train curves) of the augmented net is measured on augmented "
         "images; the gap figures use each net's eval-mode accuracy on the unaugmented training images."),
        ("Flips and small shifts keep these labels (a mirrored sneaker is still a sneaker), as they keep "
         "ImageNet's; they would not for digits or text."),
    ]
    if rerun is not None:
        notes.append("Dashed: the shipped result; solid: your run (figures, verdict and pictures are your run's).")
    classes = ", ".join(sample["class"] for sample in shown["samples"])
    picture = Picture(f"Training images ({classes}, top to bottom) at the left, and "
                      f"{len(shown['samples'][0]['augmented'])} copies of each as the trainer augments them",
                      mosaic(shown["samples"]))
    return Outcome(
        figures=tuple(figures),
        verdict=verdict,
        tables=(Table("After the last epoch (%)", ("arm", "train (running)", "train (eval mode, unaugmented)",
                                                    "test", "gap"), rows),),
        charts=(
            Chart("Train and test accuracy per epoch", "epoch", "accuracy (%)", tuple(shipped_accuracy + accuracy)),
            Chart("Test loss per epoch", "epoch", "test loss", tuple(shipped_loss + loss)),
        ),
        notes=tuple(notes),
        images=(picture,),
    )


LESSON = Lesson(
    name=NAME,
    number=5,
    title="Data augmentation",
    claim=("Training on shifted and mirrored copies of the images enlarges the training set for free and "
           "reduces overfitting."),
    sources=(Source("Krizhevsky, Sutskever & Hinton 2012 (AlexNet)", "§4.1"),),
    paper_figure="AlexNet §4.1 (translations and reflections; PCA colour shifts)",
    look_at=("The pictures first: every copy is still the same garment. Then the curves: without augmentation "
             "the train curve runs to the top while the test loss turns up; with it the train curve stays lower "
             "and the test curve keeps climbing longer."),
    links=(
        Link("training", "vgg11_small", "train vgg11_small yourself, with and without augmentation"),
        Link("graph", "vgg11_small", "the network trained here", node="features.conv1_1"),
    ),
    experiment=Experiment(run=run, outcome=outcome, command=COMMAND, budget_s=BUDGET_S),
)
