"""Batch preparation on the training device: flip, shift, scale to float, resize, normalise.

Everything works on a whole batch at once with tensor ops, so a GPU does it in a few
kernels and the CPU in a few vectorised passes, instead of a Python call per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror a random half of the batch left-right. images: (B, H, W) or (B, C, H, W)."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    shape = (-1,) + (1,) * (images.dim() - 1)
    return torch.where(flip.view(shape), images.flip(-1), images)


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels per axis, filling with zeros.

    This is the usual "pad and random crop" done for the whole batch with one gather:
    zero is Fashion-MNIST's background, so padding with it adds no artefacts.
    """
    if max_shift <= 0:
        return images
    b, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    padded = F.pad(images, (max_shift, max_shift, max_shift, max_shift))
    dev = images.device
    oy = torch.randint(0, 2 * max_shift + 1, (b,), device=dev, generator=generator)
    ox = torch.randint(0, 2 * max_shift + 1, (b,), device=dev, generator=generator)
    rows = (oy[:, None] + torch.arange(h, device=dev)).view(b, h, 1)
    cols = (ox[:, None] + torch.arange(w, device=dev)).view(b, 1, w)
    batch = torch.arange(b, device=dev).view(b, 1, 1)
    if images.dim() == 3:
        return padded[batch, rows, cols]
    # (B, C, H, W): index spatial dims per sample, keep channels.
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def prepare_batch(
    images: torch.Tensor,
    *,
    mean: float,
    std: float,
    size: tuple[int, int] | None = None,
    in_channels: int = 1,
    flip: bool = False,
    shift: int = 0,
    channels_last: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Turn uint8 images (B, 28, 28) into the float (B, C, H, W) batch a model takes.

    Args:
        images: uint8 images already on the training device.
        mean: subtracted after scaling to [0, 1] (0 for none).
        std: divided by after the mean (1 for none).
        size: (H, W) to resize to, bilinearly; None keeps 28x28.
        in_channels: repeat the grey channel for models that want 3.
        flip: random horizontal flip.
        shift: random translation of up to this many pixels.
        channels_last: return a channels-last tensor (faster convolutions on CUDA).
        generator: random source for the augmentations (device-side).
    """
    if flip:
        images = random_flip(images, generator)
    if shift:
        images = random_shift(images, shift, generator)
    x = images.unsqueeze(1).float().div_(255.0)
    if size is not None and tuple(size) != tuple(x.shape[-2:]):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
    if mean != 0.0 or std != 1.0:
        x = x.sub_(mean).div_(std)
    if in_channels != 1:
        x = x.expand(-1, in_channels, -1, -1)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
