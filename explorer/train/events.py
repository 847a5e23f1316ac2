"""What a training run tells its front ends: the events ``Trainer.run()`` yields.

The CLI's progress bar and the training panel both read these; they are plain data (a
``TrainingProcess`` pickles them across to the window).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from explorer.errors import UserError
from explorer.train.config import TrainConfig
from explorer.train.records import EpochSummary, RunRecord


class TrainingError(UserError):
    """A run had to stop: out of memory, a diverged loss, an unusable model."""


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
    # Per-layer summaries (train/summaries.py); None when the run records none.
    summaries: EpochSummary | None = dataclasses.field(default=None, repr=False)


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
