"""Stepping a forward pass node by node, and the images fed to it (no Qt).

- ``stepper``: ``Stepper`` runs the traced graph one node at a time on a device.
- ``knockouts``: ``NodeKnockout``, the knockouts the stepper computes, node by node.
- ``images``: ``load_image`` decodes user images or raises ``ImageError``.
- ``preprocess``: model-specific resize, crop, colour and normalisation.
- ``predictions``: top-5 with class names.
- ``mosaic``: channels as one image, statistics, histogram, learned kernels.
- ``samples``: built-in samples and the Fashion-MNIST test images.
"""

from explorer.activations.images import ImageError, LoadedImage, image_from_pil, load_image
from explorer.activations.knockouts import NodeKnockout
from explorer.activations.mosaic import (
    KernelView,
    Mosaic,
    Stats,
    as_channels,
    colorize,
    conv_kernels,
    histogram,
    make_mosaic,
    render_mosaic,
    tensor_stats,
)
from explorer.activations.predictions import Predictions, class_names, top_k
from explorer.activations.preprocess import InputSpec, Preprocessed, preprocess, spec_for_model
from explorer.activations.samples import SAMPLES, FashionTestImages, load_sample
from explorer.activations.stepper import NodeRecord, Stepper, StepperError, trace

__all__ = [
    "SAMPLES", "FashionTestImages", "ImageError", "InputSpec", "KernelView", "LoadedImage",
    "Mosaic", "NodeKnockout", "NodeRecord", "Predictions", "Preprocessed", "Stats", "Stepper",
    "StepperError",
    "as_channels", "class_names", "image_from_pil", "colorize", "conv_kernels", "histogram", "load_image",
    "load_sample", "make_mosaic", "preprocess", "render_mosaic", "spec_for_model",
    "tensor_stats", "top_k", "trace",
]
