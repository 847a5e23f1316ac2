"""Watching the training loss: the one smoothed loss curve and the divergence check.

``SmoothedLoss`` is the average the training panel plots over the raw batch losses and
the one ``DivergenceWatch`` judges a run by, so what the user sees rising is what stops
the run.

A run is stopped as diverged when (thresholds below, in one place):

- a batch loss is NaN or infinite;
- the smoothed loss stays above ``DIVERGE_FACTOR`` times its starting value for
  ``DIVERGE_PATIENCE`` batches in a row, or an epoch's mean training loss is that high;
- the training accuracy is still at chance after ``CHANCE_STEPS`` steps of this session.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# Weight of the newest batch in the smoothed loss (an exponential moving average, bias-
# corrected as Adam does so the first points are not pulled towards zero).
SMOOTHING = 0.05

# The starting value is the larger of the first batch's loss and chance level (ln 10 for
# Fashion-MNIST's ten classes): a resumed run that starts low still gets chance-level room.
# Healthy runs only fall from there; measured peaks of the smoothed loss on the recipes
# here stay below 1.2x the start (textbook LeNet's sigmoid plateau sits at 1.0x for a few
# hundred steps). A diverging run goes far past 4x within a few batches (lr 1000: 70,000).
DIVERGE_FACTOR = 4.0
# Batches in a row above the bar: long enough that one bad batch of a healthy run (a
# spike at a one-cycle peak) does not end it, short enough to stop in the first epoch.
DIVERGE_PATIENCE = 20
# Steps after which training accuracy still at chance means the run is stuck. The sigmoid
# LeNet of the textbook recipe, the slowest healthy starter here, sits at chance for about
# 230 steps of batch 256 on the 8,226 images (7 epochs) before it learns; 1000 is four
# times that.
CHANCE_STEPS = 1000
# Accuracy at or below this many times chance (1/classes) counts as chance.
CHANCE_MARGIN = 1.5


class SmoothedLoss:
    """Exponential moving average of batch losses, bias-corrected.

    Args:
        weight: weight of the newest loss (``SMOOTHING``).
    """

    def __init__(self, weight: float = SMOOTHING) -> None:
        self.weight = weight
        self._ema = 0.0
        self._norm = 0.0

    def add(self, loss: float) -> float:
        """Fold in one batch loss; returns the smoothed value."""
        self._ema = (1 - self.weight) * self._ema + self.weight * loss
        self._norm = (1 - self.weight) * self._norm + self.weight
        return self.value

    def extend(self, losses: Iterable[float]) -> list[float]:
        """Fold in several losses; returns the smoothed value after each."""
        return [self.add(loss) for loss in losses]

    @property
    def value(self) -> float:
        return self._ema / self._norm if self._norm else math.nan


class DivergenceWatch:
    """Judges a run's batch losses and epochs; ``check_*`` return a reason to stop or None.

    Args:
        num_classes: classes of the task (chance loss is ln of it, chance accuracy 1/it).
        lr: the run's learning rate, named in the hint.
    """

    def __init__(self, num_classes: int = 10, lr: float | None = None) -> None:
        self.num_classes = num_classes
        self.lr = lr
        self.smoothed = SmoothedLoss()
        self.start: float | None = None
        self.peak = 0.0
        self.steps = 0
        self._above = 0

    @property
    def limit(self) -> float:
        """The smoothed loss above which the run is diverging."""
        start = self.start if self.start is not None else math.log(self.num_classes)
        return DIVERGE_FACTOR * start

    def _lr_text(self) -> str:
        return f" (now {self.lr:g})" if self.lr is not None else ""

    def check_losses(self, losses: Iterable[float]) -> str | None:
        """Fold in newly read batch losses."""
        for loss in losses:
            self.steps += 1
            if not math.isfinite(loss):
                return f"training diverged: the loss became {loss} at step {self.steps}; lower the learning rate{self._lr_text()}"
            if self.start is None:
                self.start = max(loss, math.log(self.num_classes))
            value = self.smoothed.add(loss)
            self.peak = max(self.peak, value)
            self._above = self._above + 1 if value > self.limit else 0
            if self._above >= DIVERGE_PATIENCE:
                return (
                    f"training diverged: the smoothed loss rose to {value:.4g}, over {DIVERGE_FACTOR:g}x its start "
                    f"{self.start:.3g} for {DIVERGE_PATIENCE} batches; lower the learning rate{self._lr_text()}"
                )
        return None

    def check_epoch(self, train_loss: float, train_acc: float, test_loss: float) -> str | None:
        """Judge a finished epoch before it is saved."""
        for name, value in (("training", train_loss), ("test", test_loss)):
            if not math.isfinite(value):
                return f"training diverged: the {name} loss is {value}; lower the learning rate{self._lr_text()}"
        if train_loss > self.limit:
            return (
                f"training diverged: the epoch's training loss {train_loss:.4g} is over {DIVERGE_FACTOR:g}x "
                f"its start {self.start:.3g}; lower the learning rate{self._lr_text()}"
            )
        if self.steps >= CHANCE_STEPS and train_acc <= CHANCE_MARGIN / self.num_classes:
            if self.start is not None and self.peak > 2 * self.start:
                hint = f"the learning rate{self._lr_text()} is probably too high: the loss rose to {self.peak:.4g} first"
            else:
                hint = (
                    f"the learning rate{self._lr_text()} is probably too high or too low "
                    "(or try Xavier init or normalised inputs)"
                )
            return (
                f"training diverged: accuracy is still at chance ({train_acc:.3f}) after {self.steps} steps; {hint}"
            )
        return None
