"""The parts of feature visualisation's optimiser (:mod:`explorer.explain.feature_vis`).

After Olah, Mordvintsev and Schubert, "Feature Visualization" (Distill, 2017) and their
lucid library, in plain torch:

- :class:`FourierImage`: the image as a learned spectrum, each frequency scaled by
  1 / frequency, colours decorrelated with lucid's matrix when there are three channels,
  and a sigmoid to 0..1;
- :func:`random_transform`: grey padding, a random rotation and zoom (``affine_grid`` and
  ``grid_sample``) and a random shift (jitter), drawn anew every step;
- :func:`redirected_relu`: lucid's ReLU gradient, so a channel that is silent on the grey
  start image still gets a gradient;
- :func:`computing`: the thread count and gradient mode one optimisation step runs in.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import fx, nn
from torch.nn import functional as F

#: lucid's colour correlation: the square root of ImageNet's RGB covariance, from its SVD.
COLOR_CORRELATION_SVD_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))
#: lucid divides the Fourier image by this ("increasing it seems to reduce saturation").
FOURIER_MAGIC = 4.0


def _frequencies(h: int, w: int) -> torch.Tensor:
    """|f| of each coefficient of a real 2-D FFT of an h x w image, (h, w // 2 + 1)."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx_ = torch.fft.rfftfreq(w)[None, :]
    return torch.sqrt(fx_ * fx_ + fy * fy)


class FourierImage(nn.Module):
    """An image as a learned spectrum; :meth:`image` is (1, C, H, W) in 0..1.

    Args:
        channels: 1 (grey) or 3 (RGB: colours decorrelated when ``decorrelate``).
        size: (height, width).
        decay_power: each coefficient is scaled by 1 / frequency ** decay_power (the
            lowest frequency stands for the constant term); 0 is a plain pixel basis.
        sd: standard deviation of the random initial spectrum (near zero: a grey image).
        generator: draws the initial spectrum (seeded by the caller).
    """

    def __init__(self, channels: int, size: tuple[int, int], *, decay_power: float = 1.0,
                 sd: float = 0.01, decorrelate: bool = True, generator: torch.Generator | None = None) -> None:
        super().__init__()
        h, w = size
        self.size = (h, w)
        freqs = _frequencies(h, w)
        scale = 1.0 / torch.clamp(freqs, min=1.0 / max(h, w)) ** decay_power
        self.register_buffer("scale", scale[None, None, :, :, None].float())
        init = torch.randn((1, channels) + tuple(freqs.shape) + (2,), generator=generator) * sd
        self.spectrum = nn.Parameter(init)  # real and imaginary parts
        color = None
        if channels == 3 and decorrelate:
            matrix = torch.tensor(COLOR_CORRELATION_SVD_SQRT)
            color = matrix / matrix.norm(dim=0).max()
        self.register_buffer("color", color)

    def image(self) -> torch.Tensor:
        spectrum = torch.view_as_complex((self.scale * self.spectrum).contiguous())
        image = torch.fft.irfftn(spectrum, s=self.size, norm="ortho") / FOURIER_MAGIC
        if self.color is not None:
            image = torch.einsum("ij,bjhw->bihw", self.color, image)
        return torch.sigmoid(image)


def random_transform(image: torch.Tensor, *, pad: int, jitter: int, scale: tuple[float, float],
                     rotate: float, generator: torch.Generator) -> torch.Tensor:
    """``image`` (N, C, H, W) in 0..1 padded with ``pad`` grey pixels, rotated by up to
    ``rotate`` degrees and zoomed by a factor in ``scale`` about its centre, then cropped
    back to H x W at a random shift of up to ``jitter`` pixels (``jitter`` <= ``pad``).
    The random numbers come from ``generator`` (on the CPU), so a seed fixes them all."""
    h, w = image.shape[-2:]
    padded = F.pad(image - 0.5, (pad, pad, pad, pad))  # zero here is grey
    angle = math.radians(rotate) * (2 * torch.rand((), generator=generator).item() - 1)
    low, high = scale
    zoom = low + (high - low) * torch.rand((), generator=generator).item()
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    theta = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]], dtype=image.dtype, device=image.device)
    grid = F.affine_grid(theta.expand(image.shape[0], 2, 3), list(padded.shape), align_corners=False)
    turned = F.grid_sample(padded, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
    top, left = pad + dy, pad + dx
    return turned[..., top:top + h, left:left + w] + 0.5


@contextlib.contextmanager
def computing(threads: int) -> Iterator[None]:
    """Gradients on (even inside a caller's inference mode) and ``threads`` intra-op
    threads (0: as they are), both restored on leaving.

    One thread for a small image: a batch of one 28 x 28 image gains nothing from more, and
    on a busy 2-core machine two OpenMP threads spin-waiting on each other made a LeNet-5
    step 10 ms instead of 1.3 ms. With OpenMP the setting is the calling thread's own.
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            yield
    finally:
        if threads:
            torch.set_num_threads(before)


def per_channel(values: Any, channels: int) -> list[float]:
    """A model's mean or std for ``channels`` channels (their average when counts differ)."""
    values = [float(v) for v in values]
    return values if len(values) == channels else [sum(values) / len(values)] * channels


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) in 0..1 -> H x W (one channel) or H x W x C uint8."""
    array = (image.detach()[0].float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return array[0] if array.shape[0] == 1 else np.ascontiguousarray(array.transpose(1, 2, 0))


class _RedirectedReLU(torch.autograd.Function):
    """ReLU (ReLU6 with ``upper``) whose gradient is lucid's ``redirected_relu_grad``.

    The forward pass is the plain clamp. Backwards, where the plain gradient is zero for a
    whole sample (every unit out of range: a channel silent on the grey start image), the
    gradient passes through instead, except where descent would push a unit further out
    of range; elsewhere it is the plain gradient. Without it such a channel never moves.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, upper: float | None) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.upper = upper
        return x.clamp(min=0.0, max=upper)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        outside = x < 0
        pushing_out = outside & (grad > 0)  # descent would lower it further
        if ctx.upper is not None:
            above = x > ctx.upper
            outside, pushing_out = outside | above, pushing_out | (above & (grad < 0))
        plain = grad.masked_fill(outside, 0.0)
        redirected = grad.masked_fill(pushing_out, 0.0)
        silent = plain.flatten(1).abs().sum(1) == 0
        silent = silent.view((-1,) + (1,) * (grad.dim() - 1))
        return torch.where(silent, redirected, plain), None


def redirected_relu(x: torch.Tensor, upper: float | None = None) -> torch.Tensor:
    """``x.clamp(0, upper)`` with lucid's redirected gradient (:class:`_RedirectedReLU`)."""
    return _RedirectedReLU.apply(x, upper)


_RELU_CALLS: dict[Any, float | None] = {F.relu: None, torch.relu: None, torch.relu_: None, F.relu6: 6.0}


def redirect_relus(module: fx.GraphModule) -> int:
    """Replace the ReLUs and ReLU6s of ``module`` (modules, functions and methods) by
    :func:`redirected_relu`: the same values, lucid's gradient. Call ``recompile`` after.

    Returns:
        How many were replaced.
    """
    modules = dict(module.named_modules())
    count = 0
    for n in list(module.graph.nodes):
        upper: float | None | bool = False  # False: not a ReLU
        called = modules.get(str(n.target)) if n.op == "call_module" else None
        if isinstance(called, nn.ReLU6):
            upper = 6.0
        elif isinstance(called, nn.ReLU):
            upper = None
        elif n.op == "call_function" and n.target in _RELU_CALLS:
            upper = _RELU_CALLS[n.target]
        elif n.op == "call_method" and n.target in ("relu", "relu_"):
            upper = None
        if upper is False or not n.args:
            continue
        with module.graph.inserting_after(n):
            swapped = module.graph.call_function(redirected_relu, (n.args[0], upper))
        n.replace_all_uses_with(swapped)
        module.graph.erase_node(n)
        count += 1
    return count
