"""The training engine: a generator that yields metrics per batch and per epoch.

The CLI and the Qt panel both iterate ``Trainer.run()``. Between batches it honours a
``TrainControl`` (pause, stop), so either front end can pause or stop within one batch.

Speed comes from keeping the data on the device (``data.py``), preparing batches there
(``augment.py``) and never synchronising with the device inside the step loop: each
batch's loss goes into a device tensor and the correct-prediction count accumulates on the
device; both are read back at most every ``report_interval_s`` (a few times per second) and
at the end of each epoch. A ``BatchMetrics`` is yielded every batch; only those yielded at
a read carry the new per-batch losses.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import dataclasses
import inspect
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from explorer import settings
from explorer.errors import UserError
from explorer.train.augment import prepare_batch
from explorer.train.checkpoint import load_checkpoint, save_checkpoint
from explorer.train.config import TrainConfig
from explorer.train.data import FashionData, load_fashion_mnist
from explorer.train.history import RunHistory, RunRecord

FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
BUILDER_OPTIONS = ("width_mult", "dropout", "batch_norm")
MISCLASSIFIED_SHOWN = 32
# Train accuracy this far above test accuracy is pointed out as overfitting.
OVERFIT_GAP = 0.08


class TrainingError(UserError):
    """A run had to stop: out of memory, a NaN or infinite loss, an unusable model."""


# --------------------------------------------------------------------------- events


def format_duration(seconds: float | None) -> str:
    """A time left as the CLI's progress bar and the panel show it: 1:02:03 or 4:05."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclasses.dataclass
class BatchMetrics:
    """Progress after one optimiser step.

    Attributes:
        epoch: 1-based epoch number.
        epochs: total epochs of the run.
        batch: 1-based batch number within the epoch.
        batches: batches per epoch.
        images_seen: training images processed in this session of the run.
        elapsed_s: training time so far (pauses excluded).
        images_per_s: training throughput so far.
        eta_s: estimated time left for the whole run.
        lr: learning rate used for this batch.
        losses: per-batch losses since the previous read; empty between reads.
        first_loss_index: global batch index (over the run) of ``losses[0]``.
        train_acc: running training accuracy of this epoch at the last read.
    """

    epoch: int
    epochs: int
    batch: int
    batches: int
    images_seen: int
    elapsed_s: float
    images_per_s: float
    eta_s: float
    lr: float
    losses: list[float]
    first_loss_index: int
    train_acc: float | None


@dataclasses.dataclass
class Misclassified:
    """Test images the model got wrong after an epoch (the first few).

    Attributes:
        images: uint8 (K, 28, 28) on the CPU.
        predicted: predicted class per image.
        true: true class per image.
        indices: position in the test split.
    """

    images: torch.Tensor
    predicted: list[int]
    true: list[int]
    indices: list[int]


@dataclasses.dataclass
class EpochMetrics:
    """Results after an epoch; ``model`` is the live model (copy it before the next step)."""

    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    test_loss: float
    test_acc: float
    lr: float
    images_per_s: float
    elapsed_s: float
    confusion: list[list[int]]
    misclassified: Misclassified
    overfitting: str | None
    checkpoint: str | None
    model: nn.Module = dataclasses.field(repr=False)


@dataclasses.dataclass
class RunStarted:
    """First event of a run: the data is loaded and the model built.

    Attributes:
        run_id: the run's key in the history.
        config: the run's options (a resumed run's are the checkpoint's).
        checkpoint: where each epoch is saved, if anywhere.
        sizes: images per split (``train``, ``val``, ``test``).
        device: the training device.
        start_epoch: epochs already done (a resumed run).
    """

    run_id: str
    config: TrainConfig
    checkpoint: str | None
    sizes: dict[str, int]
    device: str
    start_epoch: int


@dataclasses.dataclass
class StateChanged:
    """The run was paused (``paused``) or resumed (``running``)."""

    state: str


@dataclasses.dataclass
class RunFinished:
    """Last event of a run that completed or was stopped (faults raise TrainingError)."""

    status: str
    message: str
    record: RunRecord


# --------------------------------------------------------------------------- control


class TrainControl:
    """Thread-safe pause/stop flags checked by the engine between batches."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._stopped = False

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stop_requested(self) -> bool:
        return self._stopped

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def wait_while_paused(self) -> None:
        with self._cond:
            while self._paused and not self._stopped:
                self._cond.wait()


# --------------------------------------------------------------------------- helpers


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
    for candidate in list_models(form="small"):
        if get_model_info(candidate).small_of == name:
            return candidate
    if f"{name}_small" in list_models(form="small"):
        return f"{name}_small"
    raise UserError(f"{name} has no small form to train on Fashion-MNIST")


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

    info = get_model_info(config.model)
    accepted = builder_options(config.model)
    kwargs = {}
    for option in BUILDER_OPTIONS:
        value = getattr(config, option)
        if value is None:
            continue
        if option not in accepted:
            raise UserError(f"{config.model} has no {option.replace('_', ' ')} option")
        kwargs[option] = value
    return get_model(config.model, **kwargs), info


def xavier_init(model: nn.Module) -> None:
    """Uniform Xavier init of conv and linear weights, as the textbook recipe does."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)


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


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> None:
    """Let glibc's malloc keep freed memory in this process (Linux; a no-op elsewhere).

    By default a freed block of a few MB goes back to the system and the next step's
    allocation faults its pages in again, until malloc's adaptive thresholds catch up:
    that made a fresh process's first epoch 40-60% slower than a warm one's (600-690 ms
    against 420 ms for the textbook LeNet on 8,226 images). A training process reuses
    the same activation sizes every step, so it keeps them.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 64 * 2**20)
        libc.mallopt(_M_TRIM_THRESHOLD, 256 * 2**20)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        pass


def cpu_copy(model: nn.Module) -> nn.Module:
    """A detached CPU copy in eval mode, for views that show learned weights."""
    clone = copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format)
    return clone.eval()


def overfitting_notice(train_acc: float, test_acc: float) -> str | None:
    gap = train_acc - test_acc
    if gap <= OVERFIT_GAP:
        return None
    return (
        f"overfitting: train accuracy {train_acc:.3f} is {gap:.3f} above test accuracy {test_acc:.3f}; "
        f"try dropout, augmentation, weight decay or fewer epochs"
    )


def new_run_id(model: str) -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{model}-{secrets.token_hex(2)}"


def default_checkpoint_path(run_id: str) -> Path:
    return settings.user_data_dir() / "checkpoints" / f"{run_id}.pt"


CURVE_KEYS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "lr",
    "images_per_s",
    "batch_loss",
)


# --------------------------------------------------------------------------- trainer


class Trainer:
    """One training run; iterate ``run()`` to drive it.

    Args:
        config: the run's options (ignored except ``epochs`` and ``device`` when resuming,
            which continues with the checkpoint's own options).
        data: already loaded data (tests, benchmarks); otherwise read from ``data_root``.
        data_root: folder holding ``FashionMNIST/raw`` (default ``settings.data_dir()``).
        download: allow torchvision to download a missing data set.
        model: a ready model instead of ``config.model`` from the registry (tests).
        control: pause/stop flags; a fresh one if not given.
        checkpoint_path: where to save after each epoch (default: the data folder's
            ``checkpoints/<run_id>.pt``); ``False`` disables checkpoints.
        resume: a checkpoint to continue from.
        history: where to record the run (default: the platform data folder); ``False``
            disables recording.
        report_interval_s: how often per-batch losses are read back from the device.
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        data: FashionData | None = None,
        data_root: str | os.PathLike | None = None,
        download: bool = False,
        model: nn.Module | None = None,
        control: TrainControl | None = None,
        checkpoint_path: str | os.PathLike | bool | None = None,
        resume: str | os.PathLike | None = None,
        history: RunHistory | bool | None = None,
        report_interval_s: float = 0.25,
    ) -> None:
        self.config = config.validate()
        self.data = data
        self.data_root = data_root
        self.download = download
        self.model = model
        self.control = control or TrainControl()
        self._checkpoint_arg = checkpoint_path
        self.resume = resume
        self.history = RunHistory() if history is None else (history or None)
        self.report_interval_s = report_interval_s
        self.device: torch.device | None = None
        self.record: RunRecord | None = None
        self.checkpoint_path: Path | None = None

    # ---------------------------------------------------------------- setup

    def _setup(self) -> None:
        config = self.config
        start_epoch = 0
        curves: dict[str, list] = {key: [] for key in CURVE_KEYS}
        state = None
        run_id = None
        if self.resume is not None:
            state = load_checkpoint(self.resume)
            stored = TrainConfig.from_dict(state["config"])
            config = stored.replace(epochs=max(config.epochs, stored.epochs), device=config.device)
            start_epoch = int(state["epoch"])
            curves.update({k: list(v) for k, v in state.get("curves", {}).items() if k in curves})
            run_id = state.get("run_id")
            if start_epoch >= config.epochs:
                raise UserError(
                    f"checkpoint {self.resume} already finished {start_epoch} epochs; ask for more with --epochs"
                )
        self.config = config
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)

        self.info = None
        if self.model is None:
            self.model, self.info = build_model(config)
            if config.init == "xavier" and state is None:
                xavier_init(self.model)
        elif config.init == "xavier" and state is None:
            xavier_init(self.model)
        if state is not None:
            try:
                self.model.load_state_dict(state["model_state"])
            except RuntimeError as exc:
                raise UserError(f"checkpoint {self.resume} does not fit {config.model}: {str(exc).splitlines()[0]}") from None

        cuda = self.device.type == "cuda"
        if config.channels_last is None:
            self.channels_last = self.device.type == "cpu"
        else:
            self.channels_last = bool(config.channels_last) and self.device.type in ("cpu", "cuda")
        self.amp = bool(config.amp and cuda)
        self.model.to(self.device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)

        if self.data is None:
            root = settings.data_dir(self.data_root)
            self.data = load_fashion_mnist(
                root,
                self.device,
                download=self.download,
                subset=config.subset,
                val_fraction=config.val_fraction,
                seed=config.seed,
            )
        elif self.data.device != self.device:
            self.data = dataclasses.replace(
                self.data,
                device=self.device,
                **{
                    f.name: getattr(self.data, f.name).to(self.device)
                    for f in dataclasses.fields(self.data)
                    if isinstance(getattr(self.data, f.name), torch.Tensor)
                },
            )

        info = self.info
        if config.normalize:
            if info is not None and info.normalization == "imagenet":
                mean, std = info.mean_std
                self.mean, self.std = float(mean[0]), float(std[0])
            else:
                self.mean, self.std = FASHION_MEAN, FASHION_STD
        else:
            self.mean, self.std = 0.0, 1.0
        if config.resize:
            self.size = (config.resize, config.resize)
        elif info is not None:
            self.size = tuple(info.input_size)
        else:
            self.size = (28, 28)
        self.in_channels = info.in_channels if info is not None else 1

        self.optimizer = make_optimizer(config, self.model)
        if state is not None and "optimizer_state" in state:
            self.optimizer.load_state_dict(state["optimizer_state"])
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

        n_train = len(self.data.train_labels)
        self.batch_size = min(config.batch_size, n_train)
        # A last batch of one image breaks batch norm in training mode: drop it.
        self.batches_per_epoch = n_train // self.batch_size + (n_train % self.batch_size > 1)
        self.start_epoch = start_epoch
        self.curves = curves

        run_id = run_id or new_run_id(config.model)
        if self._checkpoint_arg is False:
            self.checkpoint_path = None
        elif self._checkpoint_arg in (None, True):
            self.checkpoint_path = default_checkpoint_path(run_id)
        else:
            self.checkpoint_path = Path(self._checkpoint_arg)
        record = None
        if self.history is not None and self.resume is not None:
            with contextlib.suppress(OSError, ValueError, TypeError):
                record = self.history.load(run_id)
        self.record = record or RunRecord(
            run_id=run_id,
            model=config.model,
            config=config.to_dict(),
            started=datetime.now().isoformat(timespec="seconds"),
        )
        self.record.status = "running"
        self.record.config = config.to_dict()
        self.record.curves = self.curves
        self.record.checkpoint = str(self.checkpoint_path) if self.checkpoint_path else None
        self._save_record()

    def _save_record(self) -> None:
        if self.history is not None and self.record is not None:
            try:
                self.history.save(self.record)
            except OSError as exc:
                # Losing the history entry must not end a run that is training fine.
                self.record.message = f"cannot write run history: {exc}"

    # ---------------------------------------------------------------- steps

    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _batch(self, images: torch.Tensor, augment: bool, generator: torch.Generator | None) -> torch.Tensor:
        return prepare_batch(
            images,
            mean=self.mean,
            std=self.std,
            size=self.size,
            in_channels=self.in_channels,
            flip=augment,
            shift=self.config.shift if augment else 0,
            channels_last=self.channels_last,
            generator=generator,
        )

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self._autocast():
            logits, aux = split_outputs(self.model(x))
            loss = self.criterion(logits, y)
            for extra in aux:
                loss = loss + self.config.aux_weight * self.criterion(extra, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), logits.detach()

    def _evaluate(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor] | None:
        """Loss, confusion matrix (device, 10x10) and predictions; None if stopped."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        preds = torch.empty_like(labels)
        bs = self.config.eval_batch_size
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(labels), bs):
                if self.control.stop_requested:
                    return None
                x = self._batch(images[start : start + bs], False, None)
                y = labels[start : start + bs]
                logits, _ = split_outputs(self.model(x))
                loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
                preds[start : start + bs] = logits.argmax(1)
        confusion = torch.bincount(labels * 10 + preds, minlength=100).view(10, 10)
        return float(loss_sum) / max(len(labels), 1), confusion, preds

    # ---------------------------------------------------------------- run

    def run(self) -> Iterator[RunStarted | BatchMetrics | EpochMetrics | StateChanged | RunFinished]:
        """Train, yielding RunStarted once set up, a BatchMetrics per batch, an EpochMetrics
        per epoch, StateChanged on pause/resume, and a final RunFinished.

        Raises:
            TrainingError: out of memory, or a NaN/infinite loss.
            UserError: missing or corrupt data, a bad checkpoint, an unknown model.
        """
        self._setup()
        config, data, device = self.config, self.data, self.device
        yield RunStarted(
            run_id=self.record.run_id,
            config=config,
            checkpoint=str(self.checkpoint_path) if self.checkpoint_path else None,
            sizes=data.sizes,
            device=str(device),
            start_epoch=self.start_epoch,
        )
        n_train = len(data.train_labels)
        bs, batches = self.batch_size, self.batches_per_epoch
        total_steps = config.epochs * batches
        generator = torch.Generator(device=device)
        train_time = 0.0
        eval_time = 0.0
        images_seen = 0
        global_batch = len(self.curves["batch_loss"])

        for epoch in range(self.start_epoch + 1, config.epochs + 1):
            self.model.train()
            # Seeded per epoch so a resumed run draws the same batches as an unbroken one.
            generator.manual_seed(config.seed * 100_003 + epoch)
            perm = torch.randperm(n_train, device=device, generator=generator)
            loss_per_batch = torch.zeros(batches, device=device)
            correct = torch.zeros((), dtype=torch.long, device=device)
            read_upto = 0
            epoch_images = 0
            train_acc = None
            tick = time.perf_counter()
            last_read = tick
            for b in range(batches):
                if self.control.paused and not self.control.stop_requested:
                    train_time += time.perf_counter() - tick
                    yield StateChanged("paused")
                    self.control.wait_while_paused()
                    tick = time.perf_counter()
                    if not self.control.stop_requested:
                        yield StateChanged("running")
                if self.control.stop_requested:
                    yield self._finish("stopped", "stopped by the user")
                    return
                idx = perm[b * bs : (b + 1) * bs]
                y = data.train_labels[idx]
                step = (epoch - 1) * batches + b
                lr = lr_at(config, step, total_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                out_of_memory = False
                try:
                    x = self._batch(data.train_images[idx], config.augment, generator)
                    loss, logits = self._step(x, y)
                except torch.OutOfMemoryError:
                    # Recover outside the except block: the exception's traceback holds the
                    # frames (and their tensors) alive until it is left (PyTorch FAQ).
                    out_of_memory = True
                if out_of_memory:
                    self._recover_from_oom()
                    raise TrainingError(
                        f"out of memory on {device} at batch size {bs}; halve the batch size "
                        f"(try {max(bs // 2, 1)}) or use a smaller width"
                    )
                loss_per_batch[b] = loss
                correct += (logits.argmax(1) == y).sum()
                epoch_images += len(y)
                images_seen += len(y)

                now = time.perf_counter()
                new_losses: list[float] = []
                first_index = global_batch + read_upto
                if now - last_read >= self.report_interval_s or b == batches - 1:
                    # The only host synchronisation in the loop, a few times per second.
                    new_losses = loss_per_batch[read_upto : b + 1].tolist()
                    train_acc = correct.item() / epoch_images
                    read_upto = b + 1
                    last_read = time.perf_counter()
                    if not all(math.isfinite(v) for v in new_losses):
                        bad = next(v for v in new_losses if not math.isfinite(v))
                        self._fail(f"loss became {bad} in epoch {epoch}")
                        raise TrainingError(
                            f"loss became {bad} in epoch {epoch}: training diverged; lower the learning "
                            f"rate (now {config.lr:g}) and start again"
                        )
                    self.curves["batch_loss"].extend(new_losses)
                elapsed = train_time + (now - tick)
                rate = images_seen / elapsed if elapsed > 0 else 0.0
                remaining = (config.epochs - epoch) * n_train + (n_train - epoch_images)
                per_eval = eval_time / max(epoch - 1 - self.start_epoch, 1) if eval_time else 0.0
                eta = remaining / rate + per_eval * (config.epochs - epoch + 1) if rate > 0 else float("nan")
                yield BatchMetrics(
                    epoch=epoch,
                    epochs=config.epochs,
                    batch=b + 1,
                    batches=batches,
                    images_seen=images_seen,
                    elapsed_s=elapsed,
                    images_per_s=rate,
                    eta_s=eta,
                    lr=lr,
                    losses=new_losses,
                    first_loss_index=first_index,
                    train_acc=train_acc,
                )
            train_time += time.perf_counter() - tick
            global_batch += batches
            train_loss = float(loss_per_batch.mean())

            eval_start = time.perf_counter()
            val = None
            if len(data.val_labels):
                val = self._evaluate(data.val_images, data.val_labels)
                if val is None:
                    yield self._finish("stopped", "stopped by the user")
                    return
            test = self._evaluate(data.test_images, data.test_labels)
            if test is None:
                yield self._finish("stopped", "stopped by the user")
                return
            eval_time += time.perf_counter() - eval_start
            test_loss, confusion, preds = test
            confusion_rows = confusion.tolist()
            test_acc = sum(confusion_rows[i][i] for i in range(10)) / max(len(data.test_labels), 1)
            val_loss = val_acc = None
            if val is not None:
                val_loss = val[0]
                vc = val[1].tolist()
                val_acc = sum(vc[i][i] for i in range(10)) / len(data.val_labels)
            wrong = (preds != data.test_labels).nonzero().flatten()[:MISCLASSIFIED_SHOWN]
            misclassified = Misclassified(
                images=data.test_images[wrong].cpu(),
                predicted=preds[wrong].tolist(),
                true=data.test_labels[wrong].tolist(),
                indices=wrong.tolist(),
            )
            rate = images_seen / train_time if train_time > 0 else 0.0
            for key, value in (
                ("epoch", epoch),
                ("train_loss", train_loss),
                ("train_acc", train_acc),
                ("val_loss", val_loss),
                ("val_acc", val_acc),
                ("test_loss", test_loss),
                ("test_acc", test_acc),
                ("lr", lr),
                ("images_per_s", rate),
            ):
                self.curves[key].append(value)
            notice = overfitting_notice(train_acc, test_acc)
            checkpoint = self._save_checkpoint(epoch)
            self.record.final = self._final_metrics(epoch, train_time)
            self._save_record()
            yield EpochMetrics(
                epoch=epoch,
                epochs=config.epochs,
                train_loss=train_loss,
                train_acc=train_acc,
                val_loss=val_loss,
                val_acc=val_acc,
                test_loss=test_loss,
                test_acc=test_acc,
                lr=lr,
                images_per_s=rate,
                elapsed_s=train_time + eval_time,
                confusion=confusion_rows,
                misclassified=misclassified,
                overfitting=notice,
                checkpoint=str(checkpoint) if checkpoint else None,
                model=self.model,
            )
        yield self._finish("completed", "")

    # ---------------------------------------------------------------- endings

    def _final_metrics(self, epoch: int, train_time: float) -> dict[str, Any]:
        c = self.curves
        return {
            "epochs": epoch,
            "train_acc": c["train_acc"][-1],
            "val_acc": c["val_acc"][-1],
            "test_acc": c["test_acc"][-1],
            "best_test_acc": max(c["test_acc"]),
            "train_loss": c["train_loss"][-1],
            "test_loss": c["test_loss"][-1],
            "images_per_s": c["images_per_s"][-1],
            "train_time_s": train_time,
            "train_images": len(self.data.train_labels),
            "test_images": len(self.data.test_labels),
            "device": str(self.device),
        }

    def _save_checkpoint(self, epoch: int) -> Path | None:
        if self.checkpoint_path is None:
            return None
        return save_checkpoint(
            self.checkpoint_path,
            model_name=self.config.model,
            config=self.config.to_dict(),
            epoch=epoch,
            run_id=self.record.run_id,
            model_state=self.model.state_dict(),
            optimizer_state=self.optimizer.state_dict(),
            curves=self.curves,
        )

    def _finish(self, status: str, message: str) -> RunFinished:
        self.record.status = status
        self.record.message = message
        self.record.finished = datetime.now().isoformat(timespec="seconds")
        self._save_record()
        return RunFinished(status=status, message=message, record=self.record)

    def _fail(self, message: str) -> None:
        self._finish("failed", message)

    def _recover_from_oom(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self._fail("out of memory")


def train(config: TrainConfig, **kwargs: Any) -> Iterator[RunStarted | BatchMetrics | EpochMetrics | StateChanged | RunFinished]:
    """Shorthand for ``Trainer(config, **kwargs).run()``."""
    return Trainer(config, **kwargs).run()
