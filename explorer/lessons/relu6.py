"""Lesson 12, ReLU6 and low precision (MobileNet v2 §4; Krizhevsky 2010): what the clip at 6 does
to a trained network's activation ranges and to their rounding in fp16 and int8 (no Qt).

The zoo's ``mobilenet_v2_small`` with its shipped Fashion-MNIST weights runs a few images
four times, with forward hooks on every activation layer: as trained (ReLU6) and with the
clip removed (the same weights, ReLU), each in float and with every activation rounded to 8
bits. The hooks record each layer's range and the rounding error of its feature maps in fp16
and int8 (per-tensor affine, the scale set by the tensor's min and max: the usual min-max
calibration), and the logits say how much the rounding changes the prediction.

The write-ups give three reasons for ReLU6; only the first, the paper's, can be measured
here. The other two are stated with their status.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Any

import torch
from torch import nn

from explorer.lessons.base import (
    Figure,
    Lesson,
    Link,
    Outcome,
    Source,
    Table,
)

MODEL = "mobilenet_v2_small"
NODE = "features.2.conv.1.2"  # the ReLU6 after block 2's depthwise conv (48 channels at 14x14)
TEST_IMAGES = 16  # when the Fashion-MNIST test set is in the data folder
CAP = 6.0
LEVELS = 256  # 8 bits

# The three explanations the write-ups give (SEED_CLAIMS.md), with their status.
EXPLANATIONS = (
    ("Low-precision arithmetic keeps good resolution on a bounded range",
     "MobileNet v2 §4 (\"robustness when used with low-precision computation\")",
     "paper (stated, no experiment in it)", "measured here"),
    (("A unit capped at 6 acts like six bias-shifted Bernoulli units instead of infinitely many, and "
      "learns sparse features earlier"),
     "Krizhevsky 2010, Convolutional Deep Belief Networks on CIFAR-10 §2.1 (where ReLU6 comes from)",
     "paper (CIFAR-10 observation)", "not measured"),
    ("An 8-bit fixed-point format with a sign bit and 3 integer bits holds 0 to 7", "the write-ups; no paper",
     "folklore", "not measured"),
)


def quantise_int8(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``x`` rounded to 8 bits and back: per-tensor affine quantisation over [lo, hi] widened
    to hold 0 (256 levels, an integer zero point, values outside clamped), as PyTorch's and
    TFLite's min-max observers calibrate activations."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi == lo:
        return torch.zeros_like(x)
    scale = (hi - lo) / (LEVELS - 1)
    zero_point = round(-lo / scale)
    return x.div(scale).round_().add_(zero_point).clamp_(0, LEVELS - 1).sub_(zero_point).mul_(scale)


def quantise_fp16(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to half precision and back."""
    return x.half().float()


def relative_error(approx: torch.Tensor, exact: torch.Tensor, norm: float | None = None) -> float:
    """||approx - exact|| / ||exact|| (0 for an all-zero ``exact``); ``norm``: ||exact|| when
    already known."""
    norm = float(exact.norm()) if norm is None else norm
    return float((approx - exact).norm()) / norm if norm > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class LayerStats:
    """One activation layer in one float pass (``clip`` True: ReLU6 as trained; False: ReLU).

    Attributes:
        shape: the output's (C, H, W).
        max: the largest output.
        above_cap: share of inputs above 6 (with the clip: the share it cuts; without: the
            share of outputs above 6).
        fp16, int8: relative rounding error of the output, ||q(x) - x|| / ||x||.
    """

    name: str
    shape: tuple[int, ...]
    max: float
    above_cap: float
    fp16: float
    int8: float


@dataclasses.dataclass(frozen=True)
class Measurement:
    """Four passes over the same images: float and int8, with and without the clip.

    Attributes:
        layers: by ``clip`` (True, False), the float pass's per-layer statistics.
        logits: by (clip, int8), the logits of the images.
        activation_types: class name of every activation module, in order.
    """

    layers: dict[bool, tuple[LayerStats, ...]]
    logits: dict[tuple[bool, bool], torch.Tensor]
    activation_types: tuple[str, ...]


def activation_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The activation modules of ``module`` that the lesson hooks: its ReLU6 layers."""
    return [(name, m) for name, m in module.named_modules() if isinstance(m, nn.ReLU6)]


@contextlib.contextmanager
def _hooked(module: nn.Module, run: Any):
    """Every ReLU6 of ``module`` calls ``run(name, pre_activation, output)`` and outputs what
    it returns. In-place activations are switched off meanwhile: they overwrite the
    pre-activation the hook needs."""
    layers = activation_layers(module)
    handles, inplace = [], [m.inplace for _, m in layers]
    try:
        for name, layer in layers:
            layer.inplace = False
            handles.append(layer.register_forward_hook(
                lambda _m, inputs, output, name=name: run(name, inputs[0], output)))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for (_, layer), flag in zip(layers, inplace, strict=True):
            layer.inplace = flag


def measure(module: nn.Module, images: torch.Tensor) -> Measurement:
    """Run ``images`` through ``module`` (eval mode) with and without the clip, in float and
    with every activation rounded to 8 bits, the int8 range of each layer calibrated on the
    float pass of the same network and images."""
    module.eval()
    layers: dict[bool, tuple[LayerStats, ...]] = {}
    logits: dict[tuple[bool, bool], torch.Tensor] = {}
    for clip in (True, False):
        found: list[LayerStats] = []

        def record(name: str, z: torch.Tensor, output: torch.Tensor, clip: bool = clip,
                   found: list[LayerStats] = found) -> torch.Tensor:
            out = output if clip else torch.relu(z)
            low, top = (float(v) for v in torch.aminmax(out))
            norm = float(out.norm())
            found.append(LayerStats(name, tuple(out.shape[1:]), top, int(torch.count_nonzero(z > CAP)) / z.numel(),
                                    relative_error(quantise_fp16(out), out, norm),
                                    relative_error(quantise_int8(out, low, top), out, norm)))
            return out

        with torch.inference_mode(), _hooked(module, record):
            logits[(clip, False)] = module(images)
        layers[clip] = tuple(found)
        ranges = {s.name: s.max for s in found}

        def rounded(name: str, z: torch.Tensor, output: torch.Tensor, clip: bool = clip,
                    ranges: dict[str, float] = ranges) -> torch.Tensor:
            return quantise_int8(output if clip else torch.relu(z), 0.0, ranges[name])

        with torch.inference_mode(), _hooked(module, rounded):
            logits[(clip, True)] = module(images)
    kinds = tuple(type(m).__name__ for m in module.modules()
                  if isinstance(m, (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Hardswish, nn.SiLU, nn.GELU)))
    return Measurement(layers, logits, kinds)


def lesson_images(model: Any) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(images, true labels, what they are): the first ``TEST_IMAGES`` Fashion-MNIST test
    images when the data folder holds them, else the built-in Fashion-MNIST samples."""
    from explorer import settings
    from explorer.activations.images import ImageError
    from explorer.activations.preprocess import preprocess
    from explorer.activations.samples import SAMPLES, FashionTestImages, load_sample

    try:
        root = settings.data_dir()
        if FashionTestImages.available(root):
            test = FashionTestImages(root)
            count = min(TEST_IMAGES, len(test))
            if count:
                images = [preprocess(test.load(i).image, model.input_spec).tensor for i in range(count)]
                labels = [test.label(i) for i in range(count)]
                return torch.cat(images), torch.tensor(labels), f"the first {count} Fashion-MNIST test images"
    except (ImageError, OSError):
        pass  # a damaged data folder: the samples do
    samples = [s for s in SAMPLES if s.file.startswith("fashion_")]
    images = [preprocess(load_sample(s.name).image, model.input_spec).tensor for s in samples]
    labels = [int(s.file.split("_")[1]) for s in samples]
    return (torch.cat(images), torch.tensor(labels),
            f"the {len(samples)} built-in Fashion-MNIST samples (one test image per class)")


@functools.cache
def _measured() -> tuple[Measurement, torch.Tensor, str]:
    from explorer.loading import load_model

    model = load_model(MODEL)
    images, labels, what = lesson_images(model)
    return measure(model.module, images), labels, what


def _agreement(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((a.argmax(1) == b.argmax(1)).sum())


def demonstrate() -> Outcome:
    m, labels, what = _measured()
    count = len(labels)
    clipped, free = m.layers[True], m.layers[False]
    n_relu6 = sum(kind == "ReLU6" for kind in m.activation_types)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    cut = mean([s.above_cap for s in clipped])
    above = mean([s.above_cap for s in free])
    widest = max(free, key=lambda s: s.max)
    int8_clip, int8_free = mean([s.int8 for s in clipped]), mean([s.int8 for s in free])
    fp16_clip, fp16_free = mean([s.fp16 for s in clipped]), mean([s.fp16 for s in free])
    agree_clip = _agreement(m.logits[(True, True)], m.logits[(True, False)])
    agree_free = _agreement(m.logits[(False, True)], m.logits[(False, False)])
    agree_unclipped = _agreement(m.logits[(False, False)], m.logits[(True, False)])
    shift_clip = float((m.logits[(True, True)] - m.logits[(True, False)]).abs().max())
    shift_free = float((m.logits[(False, True)] - m.logits[(False, False)]).abs().max())
    shift_unclipped = float((m.logits[(False, False)] - m.logits[(True, False)]).abs().max())
    correct = {key: int((value.argmax(1) == labels).sum()) for key, value in m.logits.items()}

    figures = (
        Figure(f"activation layers of {MODEL} that are ReLU6", f"{n_relu6} of {len(m.activation_types)}",
               "ReLU6 as the non-linearity (v2 §4)"),
        Figure("units above 6 without the clip (same weights, ReLU), mean over layers", round(100 * above, 3),
               unit="%"),
        Figure("units the clip cuts in the model as trained, mean over layers", round(100 * cut, 3), unit="%"),
        Figure(f"largest activation without the clip ({widest.name})", round(widest.max, 2)),
        Figure("int8 rounding error of the feature maps, mean over layers, with ReLU6", round(100 * int8_clip, 3),
               unit="%"),
        Figure("int8 rounding error of the feature maps, mean over layers, with ReLU", round(100 * int8_free, 3),
               unit="%"),
        Figure("fp16 rounding error, mean over layers, with ReLU6", round(100 * fp16_clip, 4), unit="%"),
        Figure("fp16 rounding error, mean over layers, with ReLU", round(100 * fp16_free, 4), unit="%"),
        Figure(f"top-1 unchanged by int8 activations, with ReLU6 (of {count} images)", agree_clip),
        Figure(f"top-1 unchanged by int8 activations, with ReLU (of {count} images)", agree_free),
        Figure("largest logit change from int8 activations, with ReLU6", round(shift_clip, 3)),
        Figure("largest logit change from int8 activations, with ReLU", round(shift_free, 3)),
        Figure(f"top-1 unchanged by removing the clip, float (of {count} images)", agree_unclipped),
    )
    per_layer = Table(
        f"Each ReLU6 layer of {MODEL} on {what}",
        ("layer", "C x H x W", "share cut at 6 (ReLU6)", "max with ReLU", "share above 6 (ReLU)",
         "fp16 error ReLU6", "fp16 error ReLU", "int8 error ReLU6", "int8 error ReLU"),
        tuple((c.name, "x".join(map(str, c.shape)), f"{100 * c.above_cap:.3f} %", f"{f.max:.2f}",
               f"{100 * f.above_cap:.3f} %", f"{100 * c.fp16:.4f} %", f"{100 * f.fp16:.4f} %",
               f"{100 * c.int8:.3f} %", f"{100 * f.int8:.3f} %")
              for c, f in zip(clipped, free, strict=True)),
    )
    predictions = Table(
        f"The prediction on {what}",
        ("network", "correct", "top-1 as in float", "largest logit change"),
        (("ReLU6 (as trained), float", correct[(True, False)], "-", "-"),
         ("ReLU6, int8 activations", correct[(True, True)], agree_clip, f"{shift_clip:.3f}"),
         ("ReLU (clip removed), float", correct[(False, False)], f"{agree_unclipped} (of ReLU6 float)",
          f"{shift_unclipped:.3f} (from ReLU6 float)"),
         ("ReLU, int8 activations", correct[(False, True)], agree_free, f"{shift_free:.3f}")),
    )
    explanations = Table("Why ReLU6: the write-ups' three explanations",
                         ("explanation", "source", "status", "here"), EXPLANATIONS)
    ratio = int8_free / int8_clip if int8_clip else float("inf")
    layers_above = sum(s.above_cap > 0 for s in free)
    if int8_free <= int8_clip:
        lead = "Not reproduced here"
    elif ratio < 1.5:
        lead = "Only weakly here"
    else:
        lead = "Reproduced for int8"
    verdict = (
        f"{lead}: the shipped weights were trained with ReLU6, and without the clip {100 * above:.3f} % of units "
        f"exceed 6 ({layers_above} of {len(free)} layers have any; largest {widest.max:.1f} at {widest.name}). "
        f"The clip changes the int8 rounding error of the feature maps from {100 * int8_free:.2f} % to "
        f"{100 * int8_clip:.2f} % (mean over layers, ReLU / ReLU6 = {ratio:.2f}) and the largest logit change from "
        f"int8 activations from {shift_free:.2f} to {shift_clip:.2f}; top-1 stays for {agree_free} (ReLU) and "
        f"{agree_clip} (ReLU6) of {count} images. fp16 is indifferent ({100 * fp16_free:.4f} % against "
        f"{100 * fp16_clip:.4f} %). A network trained with plain ReLU, whose ranges nothing bounds, would test the "
        "claim harder (a training experiment, not this live page)."
    )
    notes = (
        (f"fp16 is floating point: it rounds every value to within 2^-11 = {100 * 2.0 ** -11:.3f} % of itself "
         "at any size from 6e-5 to 65,504, so a bounded range buys it nothing. The range matters for fixed "
         "point such as int8, whose step is the range divided by 255."),
        ("The clip is part of what the network was trained with, so removing it changes the float network "
         f"itself: {agree_unclipped} of {count} top-1 predictions kept, largest logit change {shift_unclipped:.3f}."),
        ("MobileNet v1 itself uses ReLU (its Fig. 3); ReLU6 comes from Krizhevsky 2010 and reached MobileNet "
         "through Google's TF-Slim release and the v2 paper."),
        (f"The int8 ranges are calibrated on the same {count} images they are measured on (the tensor's own min "
         "and max): the most favourable case for the unclipped network; new images with larger outliers would "
         "be clamped."),
    )
    return Outcome(figures=figures, verdict=verdict, tables=(per_layer, predictions, explanations), notes=notes)


LESSON = Lesson(
    name="relu6",
    number=12,
    title="ReLU6 and low precision",
    claim=("ReLU6 = min(max(0, x), 6) keeps activations in a bounded range, so they survive low-precision "
           "arithmetic (fp16, 8-bit) better than ReLU's unbounded ones."),
    sources=(Source("Sandler et al. 2018 (MobileNet v2)", "§4"),
             Source("Krizhevsky 2010, Convolutional Deep Belief Networks on CIFAR-10", "§2.1"),
             Source("Howard et al. 2017 (MobileNet v1)", "Fig. 3 (ReLU, not ReLU6)")),
    paper_figure="MobileNet v2 §4 (no figure: a stated reason)",
    look_at=("The per-layer table: where the clip cuts anything, and how far the same weights go past 6 without "
             "it; then the int8 columns (fixed point: the step grows with the range) against the fp16 ones "
             "(floating point: the same relative step at every size). In the maps view, the ReLU6 layer's maps "
             "saturate at 6 where the clip acts."),
    links=(Link("graph", MODEL, "mobilenet_v2_small: a ReLU6 after a depthwise conv", node=NODE),
           Link("maps", MODEL, "mobilenet_v2_small: that ReLU6 layer's feature maps", node=NODE)),
    demonstrate=demonstrate,
)
