"""Training for the lessons' experiments: several *arms* (the same recipe with and without
the idea under test) trained one after another through the app's own ``Trainer``, with one
progress callback over all of them, and their curves as plain data (no Qt).

    arms = [Arm("dropout 0.5", TrainConfig(model="alexnet_small", dropout=0.5, ...)),
            Arm("no dropout", TrainConfig(model="alexnet_small", dropout=0.0, ...))]
    curves = train_arms(arms, data=lesson_data(2000), progress=progress, should_stop=should_stop)

Runs keep nothing: no history entry, no checkpoint (a lesson is not one of the user's runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from explorer.lessons.base import ExperimentStopped, Progress, Series
from explorer.train.records import BATCH_LOSS, GRAD_NORM, TEST_ACC, TEST_LOSS, TRAIN_ACC, TRAIN_LOSS

# The data every experiment names in its shipped result.
DATA_NOTE = "Fashion-MNIST from the app's data folder (the shared 8,226/6,978-image subset in development)"


@dataclasses.dataclass
class Arm:
    """One training run of an experiment.

    Attributes:
        label: how the lesson names it ("ResNet-20", "no dropout").
        config: the run's :class:`~explorer.train.TrainConfig` (``device`` "cpu" unless the
            user asked otherwise; the seed fixed).
        model: a module built by the lesson (a network not in the zoo, e.g. plain-20); None
            builds ``config.model`` from the registry.
        grad_norms: record each epoch's per-layer gradient norms (the time machine's
            statistics, ``train/summaries.py``).
    """

    label: str
    config: Any
    model: Any = None
    grad_norms: bool = False


def lesson_data(subset: int | None = None, data_dir: str | Path | None = None, seed: int = 0) -> Any:
    """Fashion-MNIST on the CPU for the experiments: the first ``subset`` training and test
    images of the settings' data folder (or ``data_dir``), no validation split.

    Raises:
        DataError: no data there (one line saying where to get it).
    """
    from explorer import settings
    from explorer.train.data import load_fashion_mnist

    return load_fashion_mnist(settings.data_dir(data_dir), "cpu", subset=subset, val_fraction=0.0, seed=seed)


def train_arms(arms: list[Arm], *, data: Any, progress: Progress | None = None,
               should_stop: Callable[[], bool] | None = None) -> dict[str, dict[str, list[float]]]:
    """Train each arm in turn; by label, its per-epoch curves.

    Each arm's curves: ``epoch``, ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``,
    ``elapsed_s`` (per epoch), ``steps`` (optimiser steps done at each epoch's end),
    ``batch_loss`` (every step's loss, in order) and, with ``grad_norms``, ``grad_norm``:
    parameter name -> that parameter's mean gradient norm per epoch.

    Raises:
        ExperimentStopped: ``should_stop`` returned True (checked every step).
        TrainingError: a run failed (diverged, out of memory).
    """
    from explorer.train import Trainer
    from explorer.train.events import BatchMetrics, EpochMetrics, RunFinished

    progress = progress or (lambda _fraction, _text: None)
    should_stop = should_stop or (lambda: False)
    results: dict[str, dict[str, Any]] = {}
    for index, arm in enumerate(arms):
        trainer = Trainer(arm.config, data=data, model=arm.model, history=False, checkpoint_path=False,
                          record_summaries=arm.grad_norms, report_interval_s=0.5)
        curves: dict[str, Any] = {key: [] for key in ("epoch", TRAIN_LOSS, TRAIN_ACC, TEST_LOSS, TEST_ACC,
                                                       "elapsed_s", "steps", BATCH_LOSS)}
        if arm.grad_norms:
            curves[GRAD_NORM] = {}
        stopped = False
        for event in trainer.run():
            if should_stop() and not stopped:
                trainer.control.stop()
                stopped = True
            if isinstance(event, BatchMetrics):
                curves[BATCH_LOSS].extend(float(v) for v in event.losses)
                done = ((event.epoch - 1) * event.batches + event.batch) / (event.epochs * event.batches)
                progress((index + done) / len(arms),
                         f"{arm.label}: epoch {event.epoch}/{event.epochs}, batch {event.batch}/{event.batches}")
            elif isinstance(event, EpochMetrics):
                curves["epoch"].append(event.epoch)
                for key in (TRAIN_LOSS, TRAIN_ACC, TEST_LOSS, TEST_ACC, "elapsed_s"):
                    curves[key].append(float(getattr(event, key)))
                curves["steps"].append(event.epoch * trainer.batches_per_epoch)
                if arm.grad_norms and event.summaries is not None:
                    for name, layer in event.summaries.layers.items():
                        curves[GRAD_NORM].setdefault(name, []).append(layer.grad_norm)
            elif isinstance(event, RunFinished) and stopped:
                raise ExperimentStopped(f"stopped during {arm.label}")
        results[arm.label] = curves
    progress(1.0, "done")
    return results


def same_start(configs: dict[str, Any], seed: int) -> dict[str, Any]:
    """By label, ``configs``' models built from the registry after seeding with ``seed``
    each time, so every arm starts from the same weights (an option such as dropout or
    augmentation adds none)."""
    import torch

    from explorer.train.recipe import build_model

    models = {}
    for label, config in configs.items():
        torch.manual_seed(seed)
        models[label] = build_model(config)[0]
    return models


def train_accuracy(models: dict[str, Any], model_name: str, data: Any) -> dict[str, float]:
    """By label, each trained model's accuracy on the training images in eval mode (no
    dropout, no augmentation): the side of the train-test gap the running accuracy hides."""
    from explorer.train.evaluation import accuracy_on

    return {label: accuracy_on(model, model_name, data.train_images, data.train_labels)
            for label, model in models.items()}


def train_from_one_start(configs: dict[str, Any], model_name: str, data: Any, progress: Progress,
                         should_stop: Callable[[], bool], *, seed: int, share: float,
                         clean_text: str) -> tuple[dict[str, dict[str, list[float]]], dict[str, float]]:
    """Train ``configs`` (one registry model, with and without an option that adds no
    weights) from the same start, then measure each trained model on its training images in
    eval mode: (curves by label, :func:`train_accuracy`). Training takes ``share`` of the
    progress; ``clean_text`` names the pass after it.

    Raises:
        ExperimentStopped: ``should_stop`` returned True.
    """
    models = same_start(configs, seed)
    arms = [Arm(label, config, model=models[label]) for label, config in configs.items()]
    curves = train_arms(arms, data=data, progress=lambda f, text: progress(share * f, text), should_stop=should_stop)
    if should_stop():
        raise ExperimentStopped("stopped before the pass over the training images")
    progress(share, clean_text)
    return curves, train_accuracy(models, model_name, data)


def end_numbers(result: dict[str, Any], label: str) -> dict[str, float]:
    """An arm's numbers after its last epoch, in percent: running train accuracy (as it
    trained: with its dropout, on augmented images), eval-mode accuracy on the training
    images, test accuracy, and the gap (eval-mode train - test); and the test loss at the
    end and at its lowest. ``result`` holds ``arms`` and ``train_acc_eval_mode``."""
    curves = result["arms"][label]
    clean = 100.0 * result["train_acc_eval_mode"][label]
    test = 100.0 * curves[TEST_ACC][-1]
    return {"train": 100.0 * curves[TRAIN_ACC][-1], "train_eval": clean, "test": test, "gap": clean - test,
            TEST_LOSS: curves[TEST_LOSS][-1], "lowest_test_loss": min(curves[TEST_LOSS])}


# ----------------------------------------------------------------- curves as chart series

SHIPPED = " (shipped)"


def named(name: str, shipped: bool) -> str:
    """A series' name: a shipped result's is marked, so a rerun's can stand beside it."""
    return name + SHIPPED if shipped else name


def train_test_series(label: str, curves: dict[str, Any], shipped: bool) -> list[Series]:
    """An arm's training and test accuracy (%) by epoch."""
    epochs = tuple(float(e) for e in curves["epoch"])
    return [Series(named(f"{label}, {which}", shipped), epochs, tuple(100.0 * a for a in curves[key]), shipped)
            for which, key in (("train", TRAIN_ACC), ("test", TEST_ACC))]


def loss_series(label: str, curves: dict[str, Any], shipped: bool) -> Series:
    """An arm's training loss by step, smoothed as the Training tab smooths it."""
    from explorer.train.loss import SmoothedLoss

    smoothed = SmoothedLoss().extend(curves[BATCH_LOSS])
    return Series(named(label, shipped), tuple(float(s) for s in range(1, len(smoothed) + 1)), tuple(smoothed),
                  shipped)
