"""A run's recipe from its TrainConfig: model, init, optimiser, schedule and loss.

One place for each: the builder options a model accepts, the Xavier init (the models'
own ``xavier_init_``), the learning rate at a step, the optimiser and the loss.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import nn

from explorer.errors import UserError
from explorer.models import FASHION_MNIST_MEAN, FASHION_MNIST_STD
from explorer.models.architectures._layers import xavier_init_
from explorer.train.config import TrainConfig

BUILDER_OPTIONS = ("width_mult", "dropout", "batch_norm")


def resolve_device(name: str) -> torch.device:
    """Map ``auto|cpu|cuda|mps`` to a device (explorer.devices raises a UserError for an
    absent one)."""
    from explorer.devices import choose_device

    return choose_device(name)


def training_model_name(name: str) -> str:
    """The registry model trained for a picked model: itself if it is a small form or
    already takes 28x28 Fashion-MNIST (the textbook ``lenet``), else its small form."""
    from explorer.models import get_model_info, list_models

    info = get_model_info(name)
    fits = info.in_channels == 1 and info.num_classes == 10 and tuple(info.input_size) == (28, 28)
    if info.form == "small" or fits:
        return name
    if name not in list_models():  # a torchvision classifier or a user's model: no small form
        raise UserError(not_trainable_reason(info))
    for candidate in list_models(form="small"):
        if get_model_info(candidate).small_of == name:
            return candidate
    if f"{name}_small" in list_models(form="small"):
        return f"{name}_small"
    raise UserError(f"{name} has no small form to train on Fashion-MNIST")


def not_trainable_reason(info: Any) -> str:
    """Why a model that is not in the zoo cannot be trained here, in one line."""
    size = "×".join(str(v) for v in (info.in_channels, *info.input_size))
    return (f"{info.title} takes {size} images and gives {info.num_classes} classes; training here is on "
            "1×28×28 Fashion-MNIST with 10 classes: open a small form, or a model of your own that takes "
            "1×28×28 and ends in 10 outputs")


def builder_options(name: str) -> set[str]:
    """Which of width_mult, dropout, batch_norm the model's builder accepts."""
    from explorer.models import get_model_info

    params = inspect.signature(get_model_info(name).builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return set(BUILDER_OPTIONS)
    return {opt for opt in BUILDER_OPTIONS if opt in params}


def build_model(config: TrainConfig) -> tuple[nn.Module, Any]:
    """Build ``config.model`` from the registry with the builder options that are set.

    Returns:
        (model, ModelInfo).
    """
    from explorer.models import get_model, get_model_info

    return get_model(config.model, **builder_kwargs(config)), get_model_info(config.model)


def builder_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The builder options ``config`` sets (width, dropout, batch norm, ...): what makes
    its network's structure differ from the registry's default one.

    Raises:
        UserError: the model has no such option.
    """
    accepted = builder_options(config.model)
    kwargs = {}
    for option in BUILDER_OPTIONS:
        value = getattr(config, option)
        if value is None:
            continue
        if option not in accepted:
            raise UserError(f"{config.model} has no {option.replace('_', ' ')} option")
        kwargs[option] = value
    return kwargs


def xavier_init(model: nn.Module) -> None:
    """Uniform Xavier init of conv and linear layers (the one used by the architectures too)."""
    xavier_init_(model)


def split_outputs(output: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Main logits and auxiliary logits: models with auxiliary heads (GoogLeNet, Inception
    v3) return a tuple in training mode; torchvision's are namedtuples, which are tuples."""
    if isinstance(output, (tuple, list)):
        return output[0], [aux for aux in output[1:] if aux is not None]
    return output, []


def lr_at(config: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate for global step ``step`` of ``total_steps`` under config.schedule.

    Computed from the step alone, so a resumed run continues the same schedule with no
    scheduler state in the checkpoint.
    """
    base = config.lr
    t = min(step / max(total_steps, 1), 1.0)
    if config.schedule == "constant":
        return base
    if config.schedule == "step":
        # x0.1 at 50% and again at 75% of training.
        return base * (0.1 ** ((t >= 0.5) + (t >= 0.75)))
    if config.schedule == "cosine":
        return 0.5 * base * (1.0 + math.cos(math.pi * t))
    # One-cycle (Smith 2018, as torch's OneCycleLR defaults): cosine warm-up from base/25
    # over 30% of the steps, then cosine decay to base/25/1e4.
    start, end, warm = base / 25.0, base / 25.0 / 1e4, 0.3
    if t < warm:
        return start + (base - start) * 0.5 * (1.0 - math.cos(math.pi * t / warm))
    u = (t - warm) / (1.0 - warm)
    return end + (base - end) * 0.5 * (1.0 + math.cos(math.pi * u))


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def make_criterion(config: TrainConfig) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


def input_geometry(config: TrainConfig, info: Any | None) -> tuple[float, float, tuple[int, int], int]:
    """Normalisation mean and std, input size and channels the model is fed with.

    ``info`` is the model's registry entry, or None for a model passed in by hand (28x28,
    one channel).
    """
    if config.normalize:
        if info is not None and info.normalization == "imagenet":
            mean, std = info.mean_std
            mean_std = float(mean[0]), float(std[0])
        else:
            mean_std = FASHION_MNIST_MEAN[0], FASHION_MNIST_STD[0]
    else:
        mean_std = 0.0, 1.0
    if config.resize:
        size = (config.resize, config.resize)
    elif info is not None:
        size = tuple(info.input_size)
    else:
        size = (28, 28)
    in_channels = info.in_channels if info is not None else 1
    return mean_std[0], mean_std[1], size, in_channels


def device_options(config: TrainConfig, device: torch.device) -> tuple[bool, bool]:
    """(channels_last, amp) for a run on ``device`` (see TrainConfig for why)."""
    if config.channels_last is None:
        channels_last = device.type == "cpu"
    else:
        channels_last = bool(config.channels_last) and device.type in ("cpu", "cuda")
    return channels_last, bool(config.amp and device.type == "cuda")
