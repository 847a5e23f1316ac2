"""After each epoch: the validation and test passes and what is read from them.

Loss, confusion matrix, accuracy, the first misclassified test images and the overfitting
note that the CLI and the panel show; and the accuracy of finished weights on raw images
(:func:`accuracy_on`, what ``zoo train`` records for the shipped weights).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from explorer.models import get_model_info
from explorer.train.augment import prepare_batch
from explorer.train.events import Misclassified
from explorer.train.recipe import split_outputs

MISCLASSIFIED_SHOWN = 32
# Train accuracy this far above test accuracy is pointed out as overfitting.
OVERFIT_GAP = 0.08


def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    stop_requested: Callable[[], bool] = lambda: False,
) -> tuple[float, torch.Tensor, torch.Tensor] | None:
    """Mean loss, confusion matrix (on the device, 10x10) and predictions.

    Args:
        model: the model, put in eval mode here.
        images: uint8 images on the device.
        labels: their classes.
        prepare: turns a uint8 batch into the model's input.
        batch_size: images per forward pass.
        autocast: a fresh autocast context (or a null one) per pass.
        stop_requested: checked between batches.

    Returns:
        None if a stop was requested part-way.
    """
    model.eval()
    device = labels.device
    loss_sum = torch.zeros((), device=device)
    preds = torch.empty_like(labels)
    with torch.inference_mode(), autocast():
        for start in range(0, len(labels), batch_size):
            if stop_requested():
                return None
            x = prepare(images[start : start + batch_size])
            y = labels[start : start + batch_size]
            logits, _ = split_outputs(model(x))
            loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
            preds[start : start + batch_size] = logits.argmax(1)
    confusion = torch.bincount(labels * 10 + preds, minlength=100).view(10, 10)
    return float(loss_sum) / max(len(labels), 1), confusion, preds


def accuracy(confusion_rows: list[list[int]]) -> float:
    """Share of the diagonal in a confusion matrix given as rows."""
    total = sum(sum(row) for row in confusion_rows)
    return sum(confusion_rows[i][i] for i in range(len(confusion_rows))) / max(total, 1)


def accuracy_on(model: nn.Module, name: str, images: torch.Tensor, labels: torch.Tensor,
                batch_size: int = 1024) -> float:
    """Accuracy of ``model`` (a registered small form ``name``) on uint8 images (N, 28, 28),
    preprocessed as training and the app do: scale, the model's size, its normalisation.

    ``zoo train`` scores the shipped weights with it, as stored (rounded) and loaded."""
    info = get_model_info(name)
    mean, std = info.mean_std
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(labels), batch_size):
            x = prepare_batch(
                images[start : start + batch_size].to(device),
                mean=float(mean[0]),
                std=float(std[0]),
                size=tuple(info.input_size),
                in_channels=info.in_channels,
            )
            logits, _ = split_outputs(model(x))
            correct += int((logits.argmax(1).cpu() == labels[start : start + batch_size].cpu()).sum())
    model.train(was_training)
    return correct / max(len(labels), 1)


def misclassified(images: torch.Tensor, labels: torch.Tensor, preds: torch.Tensor) -> Misclassified:
    """The first ``MISCLASSIFIED_SHOWN`` test images the model got wrong, on the CPU."""
    wrong = (preds != labels).nonzero().flatten()[:MISCLASSIFIED_SHOWN]
    return Misclassified(
        images=images[wrong].cpu(),
        predicted=preds[wrong].tolist(),
        true=labels[wrong].tolist(),
        indices=wrong.tolist(),
    )


def overfitting_notice(train_acc: float, test_acc: float) -> str | None:
    gap = train_acc - test_acc
    if gap <= OVERFIT_GAP:
        return None
    return (
        f"overfitting: train accuracy {train_acc:.3f} is {gap:.3f} above test accuracy {test_acc:.3f}; "
        f"try dropout, augmentation, weight decay or fewer epochs"
    )
