"""Top-k predictions with class names, and a plain warning when the weights are random."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import torch

#: Fashion-MNIST labels 0-9 (Zalando Research).
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

UNTRAINED_NOTE = "untrained weights: random parameters, so these scores mean nothing"


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet class names, from torchvision's weights metadata (no download)."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def class_names(num_classes: int) -> tuple[str, ...]:
    """Names for a classifier head of ``num_classes`` outputs.

    1,000 outputs are ImageNet's classes and 10 are Fashion-MNIST's (the only data set the
    app trains on); any other head gets "class N".
    """
    if num_classes == 1000:
        return imagenet_classes()
    if num_classes == 10:
        return FASHION_MNIST_CLASSES
    return tuple(f"class {i}" for i in range(num_classes))


@dataclasses.dataclass(frozen=True)
class Prediction:
    index: int
    name: str
    probability: float


@dataclasses.dataclass(frozen=True)
class Predictions:
    """The top classes of one image.

    Attributes:
        top: best first.
        trained: whether the weights were trained (the caller says so).
        note: a one-line caveat to show with them (untrained weights), or None.
    """

    top: tuple[Prediction, ...]
    trained: bool
    note: str | None

    def as_dicts(self) -> list[dict]:
        return [dataclasses.asdict(p) for p in self.top]


def top_k(logits: torch.Tensor, trained: bool, k: int = 5,
          names: tuple[str, ...] | None = None) -> Predictions:
    """Softmax probabilities of the ``k`` best classes for the first sample of ``logits``.

    Args:
        logits: (N, classes) or (classes,) raw scores.
        trained: False says the weights are random; the result carries a note saying so.
        k: how many classes.
        names: class names (default: chosen by ``class_names`` from the head size).
    """
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    scores = logits.detach().to("cpu", torch.float32)
    scores = scores.reshape(scores.shape[0], -1)[0] if scores.ndim > 1 else scores.reshape(-1)
    names = names if names is not None and len(names) == scores.numel() else class_names(
        scores.numel())
    probabilities = torch.softmax(scores, dim=0)
    values, indices = torch.topk(probabilities, min(k, scores.numel()))
    top = tuple(
        Prediction(index=int(i), name=names[int(i)], probability=float(v))
        for v, i in zip(values, indices)
    )
    return Predictions(top=top, trained=trained, note=None if trained else UNTRAINED_NOTE)
