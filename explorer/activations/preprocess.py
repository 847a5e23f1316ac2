"""Turn a decoded image into the tensor a model expects, following its metadata.

Resize and centre-crop to the model's input size (ImageNet models crop the central 87.5%,
as torchvision's evaluation transforms do, so pretrained weights score as published),
grey or RGB to match its input channels, and normalise with its statistics. The image
"as the model sees it" (after crop and colour conversion, before normalisation) comes back
too, for display.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from PIL import Image, ImageOps

from explorer.errors import ModelError
from explorer.models import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelInfo,
    get_model_info,
)

#: Fraction of the shorter side torchvision's ImageNet evaluation keeps (224 of 256).
IMAGENET_CROP = 0.875


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a model wants as input.

    Attributes:
        input_size: (height, width).
        in_channels: 1 (grey) or 3 (RGB).
        mean: per-channel mean subtracted after scaling to 0..1.
        std: per-channel standard deviation divided by.
        crop_fraction: share of the shorter side kept by the centre crop.
        dark_background: the training images are light objects on black (Fashion-MNIST):
            photos on a bright background are inverted unless told otherwise.
    """

    input_size: tuple[int, int]
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_fraction: float = 1.0
    dark_background: bool = False

    @classmethod
    def from_info(cls, info: ModelInfo) -> InputSpec:
        mean, std = info.mean_std
        return cls(
            input_size=tuple(info.input_size),
            in_channels=info.in_channels,
            mean=tuple(mean),
            std=tuple(std),
            crop_fraction=IMAGENET_CROP if info.normalization == "imagenet" else 1.0,
            dark_background=info.normalization == "fashion_mnist",
        )


@dataclasses.dataclass
class Preprocessed:
    """A model input and what it looks like.

    Attributes:
        tensor: (1, C, H, W) float32, normalised.
        display: the cropped, resized, colour-converted image before normalisation.
        notices: remarks such as "inverted: ..." for the status bar.
    """

    tensor: torch.Tensor
    display: Image.Image
    notices: list[str]


def _crop_box(width: int, height: int, out_h: int, out_w: int, fraction: float):
    # Resize-then-crop expressed as one crop of the source: scale so the output fills the
    # target, keep the central part. Resizing from a box never builds a huge intermediate
    # image, even for extreme aspect ratios.
    scale = max(out_h / height, out_w / width) / fraction
    box_w = min(width, out_w / scale)
    box_h = min(height, out_h / scale)
    left = (width - box_w) / 2
    top = (height - box_h) / 2
    return (left, top, left + box_w, top + box_h)


def preprocess(
    image: Image.Image, spec: InputSpec | ModelInfo, invert: bool | None = None
) -> Preprocessed:
    """Prepare ``image`` for a model.

    Args:
        image: a decoded image (``L`` or ``RGB``; other modes are converted).
        spec: the model's ``ModelInfo`` or an explicit ``InputSpec``.
        invert: invert grey levels; None decides by the model: for models trained on light
            objects on black, an image whose border is mostly bright is inverted.

    Returns:
        The normalised tensor, the displayable image and notices.
    """
    if isinstance(spec, ModelInfo):
        spec = InputSpec.from_info(spec)
    notices: list[str] = []
    out_h, out_w = spec.input_size
    mode = "L" if spec.in_channels == 1 else "RGB"
    source = image if image.mode in ("L", "RGB") else image.convert("RGB")
    box = _crop_box(source.width, source.height, out_h, out_w, spec.crop_fraction)
    resized = source.resize((out_w, out_h), Image.Resampling.BILINEAR, box=box)
    shown = resized.convert(mode)
    if invert is None and spec.dark_background:
        grey = np.asarray(shown.convert("L"), dtype=np.float32)
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        invert = float(border.mean()) > 127.5
        if invert:
            notices.append("inverted: this model was trained on light clothes on black")
    if invert:
        shown = ImageOps.invert(shown)
    array = np.asarray(shown, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    channels = tensor.shape[0]
    mean = torch.tensor(_per_channel(spec.mean, channels), dtype=torch.float32)[:, None, None]
    std = torch.tensor(_per_channel(spec.std, channels), dtype=torch.float32)[:, None, None]
    tensor = ((tensor - mean) / std).unsqueeze(0)
    return Preprocessed(tensor=tensor, display=shown, notices=notices)


def _per_channel(values: tuple[float, ...], channels: int) -> list[float]:
    if len(values) == channels:
        return list(values)
    if len(values) == 1:
        return list(values) * channels
    # RGB statistics for a grey model (or the reverse): use their average.
    return [float(np.mean(values))] * channels


def spec_for_model(model: torch.nn.Module, name: str | None = None) -> InputSpec:
    """The input spec of a registered model, or a guess from its first layer.

    Unregistered models (a torchvision network passed in directly) are treated as
    ImageNet models at 224x224 unless their first convolution takes one channel.
    """
    if name:
        try:
            return InputSpec.from_info(get_model_info(name))
        except ModelError:
            pass  # not registered (``torchvision.resnet18``): guess from the first layer
    first = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if first is not None and first.in_channels == 1:
        return InputSpec((28, 28), 1, FASHION_MNIST_MEAN, FASHION_MNIST_STD, 1.0, True)
    return InputSpec((224, 224), 3, IMAGENET_MEAN, IMAGENET_STD, IMAGENET_CROP, False)
