"""Argument types shared by every command: each numeric option has a range, and a value
outside it (or NaN, infinity, not a number at all) is a one-line usage error that names the
range, from argparse, before anything runs.

    p.add_argument("--threads", type=THREADS)
    p.add_argument("--scale", type=float_range(0.1, 16))

Standard library only: parsing must not wait for torch.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable


def max_threads() -> int:
    """The most CPU threads an option may ask for: four per core (more only thrash, and
    torch's OpenMP pool crashed at 100,000)."""
    return max(1, (os.cpu_count() or 1) * 4)


def _whole(text: str) -> int | None:
    try:
        return int(text.strip().replace("_", ""), 10)
    except ValueError:
        return None


def int_range(lo: int, hi: int | Callable[[], int]) -> Callable[[str], int]:
    """An argparse type: a whole number from ``lo`` to ``hi`` inclusive (``hi`` may be a
    function, read when the option is parsed)."""

    def parse(text: str) -> int:
        top = hi() if callable(hi) else hi
        value = _whole(text)
        if value is None or not lo <= value <= top:
            raise argparse.ArgumentTypeError(f"must be a whole number from {lo:,} to {top:,}, got {text!r}")
        return value

    parse.__name__ = "whole number"  # argparse's fallback wording: "invalid whole number value"
    return parse


def float_range(lo: float, hi: float, *, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number from ``lo`` (or above it, with ``above``) to ``hi``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        low_ok = value > lo if above else value >= lo
        if not math.isfinite(value) or not low_ok or value > hi:
            span = f"above {lo:g} and at most {hi:g}" if above else f"from {lo:g} to {hi:g}"
            raise argparse.ArgumentTypeError(f"must be a number {span}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


# The ranges used by more than one command.
THREADS = int_range(1, max_threads)
EPOCHS = int_range(1, 10_000)
# Fewer than 10 images cannot hold one of each class (explorer/train/data.py refuses them);
# Fashion-MNIST has 60,000 training images, a user's copy may have more, none has millions.
SUBSET = int_range(10, 10_000_000)
BATCH = int_range(1, 65_536)
