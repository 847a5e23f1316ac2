"""torchvision's classifiers that the zoo does not register, with the facts a zoo model has.

Every name ``torchvision.models.list_models(module=torchvision.models)`` knows opens by name
(``convnext_tiny``, ``efficientnet_b0``, ``vit_b_16``...). The zoo's own registrations win:
``resnet50`` stays the zoo's. A classifier's facts come from two places: torchvision's
DEFAULT weights (input size, classes, parameter count, the weights enum member), which are
what would be loaded, and a small table per family (title rule, paper, year, idea).

No Qt; torchvision is imported on first use, not when this module is imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from torch import nn

from explorer.errors import ModelError
from explorer.models._api import ModelInfo, list_models

FAMILY = "torchvision"

__all__ = ["FAMILY", "classifier_names", "torchvision_info"]


@dataclasses.dataclass(frozen=True)
class _Family:
    """One family of torchvision classifiers: the names it covers and its paper.

    Attributes:
        pattern: full match on the torchvision name; its groups feed ``title``.
        title: the shown name from the match, e.g. "RegNetY-1.6GF".
        paper: paper title with its authors' short form.
        year: publication year.
        idea: one sentence on the idea the family introduced.
        from_weights: builder arguments torchvision's own builder takes from the weights'
            metadata when it loads them (ViT's image size); a build without weights must
            set them too, or the DEFAULT weights do not fit the network.
    """

    pattern: str
    title: Callable[[re.Match], str]
    paper: str
    year: int
    idea: str
    from_weights: Callable[[dict], dict] | None = None


def _decimal(whole: str, fraction: str | None) -> str:
    """``"1", "6"`` -> ``"1.6"``; ``"16", None`` -> ``"16"``."""
    return f"{whole}.{fraction}" if fraction else whole


# Order matters where one pattern's names would also fit a later, looser one; each is a full
# match, so none does today.
_FAMILIES: tuple[_Family, ...] = (
    _Family(
        r"convnext_(tiny|small|base|large)", lambda m: f"ConvNeXt-{m[1].capitalize()}",
        "A ConvNet for the 2020s (Liu et al.)", 2022,
        "ConvNeXt modernises a ResNet step by step toward a vision Transformer's design "
        "(patchify stem, 7×7 depthwise convolutions, inverted bottlenecks, LayerNorm and GELU, "
        "fewer activations) and matches Swin with convolutions alone.",
    ),
    _Family(
        r"densenet(\d+)", lambda m: f"DenseNet-{m[1]}",
        "Densely Connected Convolutional Networks (Huang, Liu, van der Maaten, Weinberger)", 2017,
        "DenseNet feeds each layer of a dense block the concatenation of all earlier feature "
        "maps of the block; DenseNet-161 is the wide form (growth rate 48, a 96-channel stem).",
    ),
    _Family(
        r"efficientnet_b(\d)", lambda m: f"EfficientNet-B{m[1]}",
        "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (Tan, Le)", 2019,
        "EfficientNet scales depth, width and input resolution together by one compound "
        "coefficient, starting from B0, a MobileNet-style network of inverted residual blocks "
        "with squeeze-and-excitation found by architecture search.",
    ),
    _Family(
        r"efficientnet_v2_([sml])", lambda m: f"EfficientNetV2-{m[1].upper()}",
        "EfficientNetV2: Smaller Models and Faster Training (Tan, Le)", 2021,
        "EfficientNetV2 comes from a search that rewards training speed: its early stages use "
        "fused MBConv blocks (one full 3×3 convolution in place of the expansion and the "
        "depthwise convolution), and it trains with images that grow during training.",
    ),
    _Family(
        r"maxvit_([tsbl])", lambda m: f"MaxViT-{m[1].upper()}",
        "MaxViT: Multi-Axis Vision Transformer (Tu et al.)", 2022,
        "MaxViT's blocks pair an MBConv convolution with attention inside local windows and "
        "attention along a sparse global grid, so every stage mixes local and global context "
        "at a cost linear in the image size.",
        from_weights=lambda meta: {"input_size": tuple(meta["min_size"])},
    ),
    _Family(
        r"mnasnet(\d)_(\d+)", lambda m: f"MNASNet {m[1]}.{m[2]}×",
        "MnasNet: Platform-Aware Neural Architecture Search for Mobile (Tan et al.)", 2019,
        "MnasNet is found by a reinforcement-learning search that rewards accuracy and the "
        "latency measured on a phone together, over a space where each stage picks its own "
        "block; the number is the width multiplier.",
    ),
    _Family(
        r"mobilenet_v3_(large|small)", lambda m: f"MobileNet v3 {m[1].capitalize()}",
        "Searching for MobileNetV3 (Howard et al.)", 2019,
        "MobileNet v3 keeps v2's inverted residual blocks, found by platform-aware search and "
        "NetAdapt, adds squeeze-and-excitation and the cheap hard-swish activation, and "
        "slims the costly last stage.",
    ),
    _Family(
        r"regnet_([xy])_(\d+)(?:_(\d+))?(mf|gf)",
        lambda m: f"RegNet{m[1].upper()}-{_decimal(m[2], m[3])}{m[4].upper()}",
        "Designing Network Design Spaces (Radosavovic et al.)", 2020,
        "RegNet narrows a design space instead of searching single networks: stage widths "
        "follow a quantised linear rule of depth, blocks are ResNeXt-style grouped bottlenecks "
        "(Y adds squeeze-and-excitation), named by their FLOPs.",
    ),
    _Family(
        r"resnext(\d+)_(\d+)x(\d+)d", lambda m: f"ResNeXt-{m[1]} {m[2]}×{m[3]}d",
        "Aggregated Residual Transformations for Deep Neural Networks (Xie et al.)", 2017,
        "ResNeXt splits ResNet's bottleneck into many parallel paths of the same shape, one "
        "grouped convolution (32×4d: 32 groups of 4 channels); more paths beat more depth or "
        "width at the same cost.",
    ),
    _Family(
        r"shufflenet_v2_x(\d)_(\d)", lambda m: f"ShuffleNet v2 {m[1]}.{m[2]}×",
        "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (Ma et al.)", 2018,
        "ShuffleNet v2 is designed for measured speed rather than FLOPs: each unit splits the "
        "channels in two, passes one half through 1×1 and depthwise convolutions of equal "
        "width, concatenates the halves and shuffles the channels so they mix.",
    ),
    _Family(
        r"squeezenet(\d)_(\d)", lambda m: f"SqueezeNet {m[1]}.{m[2]}",
        "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size "
        "(Iandola et al.)", 2016,
        "SqueezeNet's fire modules squeeze the channels with 1×1 convolutions, then expand "
        "them with parallel 1×1 and 3×3 convolutions; with no fully connected layer it reaches "
        "AlexNet's accuracy with 50× fewer parameters.",
    ),
    _Family(
        r"swin_([tsb])", lambda m: f"Swin-{m[1].upper()}",
        "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows (Liu et al.)", 2021,
        "Swin computes self-attention inside local windows that shift between consecutive "
        "blocks and merges patches between stages, giving CNN-like feature maps at a cost "
        "linear in the image size.",
    ),
    _Family(
        r"swin_v2_([tsb])", lambda m: f"SwinV2-{m[1].upper()}",
        "Swin Transformer V2: Scaling Up Capacity and Resolution (Liu et al.)", 2022,
        "Swin V2 keeps Swin's shifted windows and stabilises them at scale: normalisation "
        "after each residual branch, scaled cosine attention and a continuous, log-spaced "
        "relative position bias that carries over to other window sizes.",
    ),
    _Family(
        r"vgg(\d+)_bn", lambda m: f"VGG-{m[1]} BN",
        "Very Deep Convolutional Networks for Large-Scale Image Recognition (Simonyan, Zisserman)",
        2015,
        "VGG stacks 3×3 convolutions in five stages; torchvision's form adds batch "
        "normalisation after every convolution, which the paper predates.",
    ),
    _Family(
        r"vit_([bhl])_(\d+)", lambda m: f"ViT-{m[1].upper()}/{m[2]}",
        "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale "
        "(Dosovitskiy et al.)", 2021,
        "The vision Transformer cuts the image into fixed-size patches, embeds each as a token "
        "and runs a plain Transformer encoder over them; a class token's output is classified.",
        from_weights=lambda meta: {"image_size": meta["min_size"][0]},
    ),
    _Family(
        r"wide_resnet(\d+)_(\d+)", lambda m: f"Wide ResNet-{m[1]}-{m[2]}",
        "Wide Residual Networks (Zagoruyko, Komodakis)", 2016,
        "Wide ResNets trade depth for width: fewer, wider residual layers train faster and "
        "match much deeper thin ones; torchvision's form doubles the width of the bottleneck's "
        "3×3 convolution.",
    ),
)


def _family_of(name: str) -> tuple[_Family, re.Match] | None:
    for family in _FAMILIES:
        match = re.fullmatch(family.pattern, name)
        if match:
            return family, match
    return None


@functools.cache
def _names() -> tuple[str, ...]:
    import torchvision

    zoo = set(list_models())  # the registry's names; the zoo's own form of a model wins
    return tuple(sorted(set(torchvision.models.list_models(module=torchvision.models)) - zoo))


def classifier_names() -> list[str]:
    """torchvision's classifiers that the zoo does not register, sorted."""
    return list(_names())


def _default_weights(name: str) -> Any:
    import torchvision

    return torchvision.models.get_model_weights(name).DEFAULT


@functools.cache
def torchvision_info(name: str) -> ModelInfo:
    """The facts of torchvision classifier ``name``, from its DEFAULT weights and its family.

    Raises:
        ModelError: ``name`` is not one of :func:`classifier_names` (one line).
    """
    if name not in _names():
        raise ModelError(f"unknown torchvision classifier {name!r}; `cnn-explorer models` lists them")
    weights = _default_weights(name)
    meta = weights.meta
    crop = weights.transforms().crop_size  # a one-element list for torchvision's classifiers
    height, width = (crop[0], crop[-1]) if isinstance(crop, (list, tuple)) else (crop, crop)
    found = _family_of(name)
    if found is not None:
        family, match = found
        title, paper, year, idea = family.title(match), family.paper, family.year, family.idea
    else:  # a classifier a later torchvision adds: it still opens, under its own name
        title, paper, year, idea = name, "see torchvision's model documentation", 0, f"torchvision's {name}."
    return ModelInfo(
        name=name,
        family=FAMILY,
        form="reference",
        title=title,
        paper=paper,
        year=year,
        input_size=(int(height), int(width)),
        in_channels=3,
        num_classes=len(meta["categories"]),
        description=idea,
        builder=functools.partial(_build, name),
        reference_params=int(meta["num_params"]),
        normalization="imagenet",
        weights=f"{type(weights).__name__}.{weights.name}",
        aux_heads=0,  # only GoogLeNet and Inception v3 have aux heads, and the zoo has both
        classes=tuple(meta["categories"]),
    )


_REGNET_LOCK = threading.Lock()


@contextlib.contextmanager
def _regnet_widths_on_cpu() -> Iterator[None]:
    """Let a RegNet build under ``torch.device("meta")``.

    ``BlockParams.from_init_params`` computes the stage widths with tensor arithmetic and
    reads them back with ``.tolist()``, which a meta tensor cannot do; the layers themselves
    build on meta fine. The widths are a few numbers: they are computed on the CPU.
    """
    import torch
    from torchvision.models.regnet import BlockParams

    original = BlockParams.__dict__["from_init_params"]

    def on_cpu(cls: type, *args: Any, **kwargs: Any) -> Any:
        with torch.device("cpu"):
            return original.__func__(cls, *args, **kwargs)

    with _REGNET_LOCK:
        BlockParams.from_init_params = classmethod(on_cpu)
        try:
            yield
        finally:
            BlockParams.from_init_params = original


def _build(name: str, /, **kwargs: Any) -> nn.Module:
    """torchvision's ``name`` with random weights (never downloads), shaped for its DEFAULT
    weights; keyword arguments go to torchvision's builder."""
    import torchvision

    found = _family_of(name)
    if found is not None and found[0].from_weights is not None:
        for key, value in found[0].from_weights(_default_weights(name).meta).items():
            kwargs.setdefault(key, value)
    guard = _regnet_widths_on_cpu() if name.startswith("regnet_") else contextlib.nullcontext()
    with guard:
        return torchvision.models.get_model(name, weights=None, **kwargs)
