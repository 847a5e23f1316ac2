"""Training options and presets, shared by the CLI, the panel and the checkpoints.

A ``TrainConfig`` is plain data (it round-trips through JSON and through a
``weights_only`` checkpoint), so a run's hyperparameters can be stored with its curves and
shown again beside later runs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

from explorer.errors import UserError

Optimizer = Literal["sgd", "adam", "rmsprop"]
Schedule = Literal["constant", "step", "cosine", "onecycle"]

OPTIMIZERS = ("sgd", "adam", "rmsprop")
# The optimisers ``make_optimizer`` gives ``momentum`` to (Adam has its betas instead).
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
# Above these the optimiser's first steps overflow float32 at once (lr 1e300 raised an
# overflow error from inside torch); runs up to them are left to the divergence check,
# which says what went wrong. No recipe here goes above lr 0.9 or weight decay 5e-4.
MAX_LR = 1e4
MAX_WEIGHT_DECAY = 1.0


@dataclasses.dataclass
class TrainConfig:
    """Everything that decides a training run.

    Attributes:
        model: registry name of the model to train (a small form, or LeNet).
        epochs: passes over the training split.
        batch_size: images per optimiser step.
        lr: peak learning rate.
        optimizer: ``sgd`` (with ``momentum``), ``adam`` or ``rmsprop``.
        momentum: SGD and RMSprop momentum.
        weight_decay: L2 penalty applied by the optimiser.
        schedule: ``constant``, ``step`` (x0.1 at 50% and 75% of the epochs), ``cosine`` or
            ``onecycle`` (stepped per batch).
        width_mult: width multiplier passed to small builders (None: builder default).
        dropout: dropout probability passed to the builder (0 turns it off; None: default).
        batch_norm: batch norm on/off where the family allows (None: builder default).
        resize: square input size to resize to (None: the model's own input size).
        augment: random horizontal flip and shift by ``shift`` pixels, on the device.
        shift: maximum shift in pixels when ``augment`` is on.
        aux_weight: weight of auxiliary-classifier losses (GoogLeNet: 0.3 as in the paper).
        normalize: subtract Fashion-MNIST's mean and divide by its std (the textbook recipe
            feeds raw [0, 1] pixels).
        init: ``default`` (PyTorch's) or ``xavier`` (uniform Xavier for conv and linear
            weights, as the textbook does).
        label_smoothing: cross-entropy label smoothing.
        seed: seeds weights, batch order, augmentation and the validation split.
        val_fraction: share of the training images held out for validation.
        subset: train on the first N training images (and at most N test images).
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        amp: bf16 autocast on CUDA (ignored elsewhere).
        channels_last: channels-last memory format. None: on for the CPU (oneDNN's
            convolutions ran 10-30% faster with it on LeNet, ResNet and GoogLeNet small
            forms here), off on CUDA and MPS until measured there; True/False force it
            (CPU and CUDA only).
        eval_batch_size: batch size for validation and test passes.
        keep_epochs: how many per-epoch weight snapshots (the time machine) to keep, newest
            first (None: every epoch; 0: none). The starting weights are kept too.
        snapshot_cap_mb: the most disk the snapshots of one run may take; the oldest are
            dropped to stay under it (a 30-epoch ``resnet18_small`` run takes about 43 MB
            in fp16, so large forms are the ones this thins).
    """

    model: str = "lenet_small"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.01
    optimizer: Optimizer = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: Schedule = "constant"
    width_mult: float | None = None
    dropout: float | None = None
    batch_norm: bool | None = None
    resize: int | None = None
    augment: bool = False
    shift: int = 2
    aux_weight: float = 0.3
    normalize: bool = True
    init: Literal["default", "xavier"] = "default"
    label_smoothing: float = 0.0
    seed: int = 0
    val_fraction: float = 0.1
    subset: int | None = None
    device: str = "auto"
    amp: bool = False
    channels_last: bool | None = None
    eval_batch_size: int = 1024
    keep_epochs: int | None = None
    snapshot_cap_mb: float = 100.0

    def validate(self) -> TrainConfig:
        """Check every value's type and range; raise UserError naming the bad one.

        Stored configs (a checkpoint, the run history) come through here too, so a value of
        the wrong type is refused with its name rather than failing later in the run.
        """
        for field in dataclasses.fields(self):
            kinds, optional = _FIELD_KINDS[field.name]
            value = getattr(self, field.name)
            if value is None and optional:
                continue
            if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
                wanted = " or ".join(k.__name__ for k in kinds) + (" or None" if optional else "")
                raise UserError(f"training option {field.name} must be {wanted}, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"training option {field.name} must be a finite number, got {value}")
        if self.epochs < 1:
            raise UserError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {self.batch_size}")
        if not 0 < self.lr <= MAX_LR:
            raise UserError(f"learning rate must be above 0 and at most {MAX_LR:g}, got {self.lr:g}")
        if not 0 <= self.momentum < 1:
            raise UserError(f"momentum must be in [0, 1), got {self.momentum:g}")
        if not 0 <= self.weight_decay <= MAX_WEIGHT_DECAY:
            raise UserError(f"weight decay must be in [0, {MAX_WEIGHT_DECAY:g}], got {self.weight_decay:g}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.device not in DEVICES:
            raise UserError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.width_mult is not None and not 0 < self.width_mult <= 16:
            raise UserError(f"width multiplier must be above 0 and at most 16, got {self.width_mult}")
        if self.resize is not None and not 8 <= self.resize <= 512:
            raise UserError(f"resize must be between 8 and 512 pixels, got {self.resize}")
        if self.init not in ("default", "xavier"):
            raise UserError(f"unknown init {self.init!r}; choose default or xavier")
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.val_fraction < 1:
            raise UserError(f"validation fraction must be in [0, 1), got {self.val_fraction}")
        if self.aux_weight < 0 or not 0 <= self.shift <= 14:
            raise UserError("aux weight must not be negative and shift must be 0-14 pixels")
        if self.eval_batch_size < 1 or (self.subset is not None and self.subset < 1):
            raise UserError("eval batch size and subset must be at least 1")
        if self.keep_epochs is not None and self.keep_epochs < 0:
            raise UserError(f"keep epochs must not be negative, got {self.keep_epochs}")
        if not 0 <= self.snapshot_cap_mb <= 100_000:
            raise UserError(f"snapshot cap must be 0-100000 MB, got {self.snapshot_cap_mb:g}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from stored values, ignoring keys a newer or older version wrote."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


# Each preset is a set of overrides on TrainConfig's defaults; explicit options win over it.
PRESETS: dict[str, dict[str, Any]] = {
    # d2l.ai's LeNet chapter: the sigmoid LeNet, Xavier init, plain SGD at lr 0.9, batch 256,
    # 10 epochs, raw [0, 1] pixels. Published test accuracy on the full 60k set: 0.78-0.80.
    "textbook-lenet": dict(
        model="lenet",
        optimizer="sgd",
        lr=0.9,
        momentum=0.0,
        batch_size=256,
        epochs=10,
        schedule="constant",
        weight_decay=0.0,
        normalize=False,
        init="xavier",
        augment=False,
    ),
    # d2l's recipe for the modern CNNs (plain SGD, Xavier init, raw pixels, batch 128, 10
    # epochs), on the small forms, at d2l's lr 0.1: at 0.05, vgg11_small was at 0.15 test
    # accuracy after 3 of the 10 epochs, at 0.1 at 0.30 (8,226-image subset). It is a recipe
    # for ReLU nets: preset_fit says where it does not suit.
    "textbook-modern": dict(
        optimizer="sgd",
        lr=0.1,
        momentum=0.0,
        batch_size=128,
        epochs=10,
        schedule="constant",
        normalize=False,
        init="xavier",
    ),
    # A quick look: Adam, two epochs.
    "quick": dict(optimizer="adam", lr=1e-3, batch_size=128, epochs=2, schedule="constant"),
    # A stronger recipe: SGD with momentum, one-cycle, weight decay, flip and shift.
    "strong": dict(
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        batch_size=128,
        epochs=15,
        schedule="onecycle",
        augment=True,
        label_smoothing=0.1,
    ),
}

PRESET_DESCRIPTIONS = {
    "textbook-lenet": "d2l LeNet: sigmoid, SGD lr 0.9, batch 256, 10 epochs (0.78-0.80 on full set)",
    "textbook-modern": "d2l modern CNNs (ReLU nets): SGD lr 0.1, batch 128, 10 epochs, Xavier init",
    "quick": "Adam lr 0.001, batch 128, 2 epochs",
    "strong": "SGD+momentum, one-cycle lr 0.1, weight decay, flip+shift, 15 epochs",
}


def preset(name: str) -> dict[str, Any]:
    """The overrides of a named preset."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def make_config(preset_name: str | None = None, **options: Any) -> TrainConfig:
    """A validated config: defaults, then the preset (or, with none, the model's default
    recipe from ``explorer.train.recipes``), then the options that are not None."""
    from explorer.train.recipes import default_recipe

    values: dict[str, Any] = {}
    if preset_name:
        values.update(preset(preset_name))
    else:
        values.update(default_recipe(options.get("model") or TrainConfig.model))
    values.update({k: v for k, v in options.items() if v is not None})
    try:
        config = TrainConfig(**values)
    except TypeError as exc:
        raise UserError(f"bad training option: {exc}") from None
    return config.validate()


# Accepted Python types per field (int counts as float; bool never counts as a number),
# and whether None is allowed.
_FIELD_KINDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "model": ((str,), False),
    "epochs": ((int,), False),
    "batch_size": ((int,), False),
    "lr": ((float, int), False),
    "optimizer": ((str,), False),
    "momentum": ((float, int), False),
    "weight_decay": ((float, int), False),
    "schedule": ((str,), False),
    "width_mult": ((float, int), True),
    "dropout": ((float, int), True),
    "batch_norm": ((bool,), True),
    "resize": ((int,), True),
    "augment": ((bool,), False),
    "shift": ((int,), False),
    "aux_weight": ((float, int), False),
    "normalize": ((bool,), False),
    "init": ((str,), False),
    "label_smoothing": ((float, int), False),
    "seed": ((int,), False),
    "val_fraction": ((float, int), False),
    "subset": ((int,), True),
    "device": ((str,), False),
    "amp": ((bool,), False),
    "channels_last": ((bool,), True),
    "eval_batch_size": ((int,), False),
    "keep_epochs": ((int,), True),
    "snapshot_cap_mb": ((float, int), False),
}


def preset_fit(preset_name: str | None, model_name: str, config: TrainConfig | None = None,
               train_images: int | None = None) -> str | None:
    """One line saying why ``preset_name`` will not teach ``model_name``, or None if it suits.

    Shown before a run starts, so a user does not train at chance for ten epochs. The facts
    behind it are data in ``explorer.train.recipes``: ``PRESET_MISFITS`` (the preset was not
    made for the model) and, given the run's ``config`` and the data folder's
    ``train_images``, ``PRESET_STEPS`` (its epochs are too few steps on this much data).
    """
    from explorer.train.recipes import preset_misfit, short_schedule

    if not preset_name:
        return None
    preset(preset_name)  # an unknown name is a UserError here too
    misfit = preset_misfit(preset_name, model_name)
    if misfit or config is None or not train_images:
        return misfit
    images = min(train_images, config.subset) if config.subset else train_images
    images -= validation_count(images, config.val_fraction)
    return short_schedule(preset_name, config.epochs, config.batch_size, images)


def validation_count(images: int, val_fraction: float) -> int:
    """How many of ``images`` training images the validation split holds out."""
    return int(round(images * val_fraction))
