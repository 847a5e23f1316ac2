"""Numbers as the CLI and the window print them (standard library only: the commands that
answer from snapshots print before torch is loaded)."""

from __future__ import annotations


def human(n: float, unit: str = "") -> str:
    """Compact number with a k/M/G/T suffix: 1.82 G."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".rstrip()
