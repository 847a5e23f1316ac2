"""The model registry: architectures register themselves with their facts as data.

Shaped after torchvision's ``models/_api.py``: a decorator records a builder with its
metadata; ``list_models``/``get_model`` are the only way the rest of the app reaches them.
The registry fills when ``explorer.models`` imports the architecture modules, as
torchvision's and timm's package ``__init__`` do; this module imports none of them.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable
from typing import Any, Literal

from torch import nn

from explorer.errors import ModelError

Form = Literal["reference", "small"]
Normalization = Literal["imagenet", "fashion_mnist", "none"]

# Per-channel statistics used by preprocessing; small models see 1-channel Fashion-MNIST.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Facts about one registered architecture, shown in the picker and used by the core.

    Attributes:
        name: registry key, e.g. ``resnet50`` or ``resnet18_small``.
        family: display family ("ResNet", "GoogLeNet", ...); the picker groups by it.
        form: ``reference`` (paper configuration) or ``small`` (Fashion-MNIST variant).
        title: human name, e.g. "ResNet-50".
        paper: paper title with authors' short form.
        year: publication year.
        input_size: (height, width) the model expects.
        in_channels: 3 for ImageNet models, 1 for small ones (and LeNet).
        num_classes: 1000 for ImageNet, 10 for small and LeNet.
        description: one paragraph on the idea the architecture introduced.
        reference_params: exact trainable parameter count from ARCHITECTURES.md, if fixed.
        normalization: which input statistics preprocessing applies.
        weights: name of a torchvision weights enum member (``"ResNet50_Weights.DEFAULT"``)
            when torchvision publishes ImageNet weights for exactly this network.
        variant_of: for a clearly named variant (torchvision's GoogLeNet), the name of the
            paper-faithful model it departs from.
        small_of: for a small form, the reference model whose topology it keeps.
        aux_heads: number of auxiliary classifiers. A model with aux heads returns a tuple
            in training mode, ``(logits, aux1, aux2)`` for GoogLeNet (aux1 on 4a, aux2 on
            4d; torchvision's ``googlenet_tv`` returns its namedtuple
            ``(logits, aux_logits2, aux_logits1)``) and ``(logits, aux)`` for Inception v3;
            in eval mode it returns the logits tensor only.
        builder: keyword-only callable returning a fresh ``nn.Module``.
        mean, std: per-channel input statistics that override ``normalization`` (a user's
            model opened with ``--mean``/``--std``).
        classes: the class names, when the model's source gives them (torchvision's
            weights metadata, a user's ``--classes`` file); else they follow the head's size.

    A model that is not in the zoo (a torchvision classifier, a user's file) gets the same
    facts from :mod:`explorer.models.sources`; ``explorer.models.lookup`` asks it for them.
    """

    name: str
    family: str
    form: Form
    title: str
    paper: str
    year: int
    input_size: tuple[int, int]
    in_channels: int
    num_classes: int
    description: str
    builder: Callable[..., nn.Module]
    reference_params: int | None = None
    normalization: Normalization = "imagenet"
    weights: str | None = None
    variant_of: str | None = None
    small_of: str | None = None
    aux_heads: int = 0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    classes: tuple[str, ...] | None = None

    @property
    def options(self) -> tuple[str, ...]:
        """Keyword arguments the builder accepts (``width_mult``, ``dropout``, ...)."""
        params = inspect.signature(self.builder).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Shape of a batch of one input image, (1, C, H, W)."""
        return (1, self.in_channels, *self.input_size)

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel (mean, std) that preprocessing normalises inputs with."""
        if self.mean is not None or self.std is not None:
            mean = self.mean or (0.0,) * self.in_channels
            return mean, self.std or (1.0,) * self.in_channels
        if self.normalization == "imagenet":
            return IMAGENET_MEAN, IMAGENET_STD
        if self.normalization == "fashion_mnist":
            return FASHION_MNIST_MEAN, FASHION_MNIST_STD
        return (0.0,) * self.in_channels, (1.0,) * self.in_channels


_REGISTRY: dict[str, ModelInfo] = {}


def _registered() -> dict[str, ModelInfo]:
    """The registry, filled on first use: importing the architecture modules runs their
    ``@register_model`` decorators (they import this module, which imports none of them)."""
    importlib.import_module("explorer.models.architectures")
    return _REGISTRY


def register_model(**facts: Any) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register the decorated builder under ``facts["name"]`` with the given metadata."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        info = ModelInfo(builder=builder, **facts)
        if info.name in _REGISTRY:
            raise ValueError(f"model {info.name!r} registered twice")
        _REGISTRY[info.name] = info
        return builder

    return wrap


def list_models(form: Form | None = None, family: str | None = None) -> list[str]:
    """Names of registered models, in registration order (families in paper order)."""
    return [
        name
        for name, info in _registered().items()
        if (form is None or info.form == form) and (family is None or info.family == family)
    ]


def registered_info(name: str) -> ModelInfo:
    """The registry's facts of zoo model ``name`` (``explorer.models.get_model_info`` also
    answers for models that are not in the zoo).

    Raises:
        ModelError: ``name`` is not registered.
    """
    try:
        return _registered()[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; `cnn-explorer models` lists them") from None


def small_form_of(reference_name: str) -> str | None:
    """The registered small form keeping ``reference_name``'s topology (None when it has none).

    A small form names its reference in ``small_of``; a variant (``googlenet_tv``) falls back
    to the small form of the model it departs from. A small form is its own small form.
    """
    info = _registered().get(reference_name)
    if info is None:
        return None
    if info.form == "small":
        return info.name
    for candidate in _REGISTRY.values():
        if candidate.form == "small" and candidate.small_of == reference_name:
            return candidate.name
    return small_form_of(info.variant_of) if info.variant_of else None
