"""What the experiment tests share: one quick run of a lesson on the tiny generated data set,
with the app's folders kept in the test's own temporary ones."""

from __future__ import annotations

import time

import pytest


def quick_run(lesson, data_root, tmp_path_factory) -> tuple[dict, list[float]]:
    """``lesson.run(quick=True)`` on the Fashion-MNIST folder ``data_root``: (raw result, the
    progress fractions it reported, in order)."""
    home = tmp_path_factory.mktemp(f"{lesson.NAME}-home")
    fractions: list[float] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_EXPLORER_DATA", str(data_root))
        patch.setenv("CNN_EXPLORER_CONFIG_DIR", str(home / "config"))
        patch.setenv("CNN_EXPLORER_CACHE_DIR", str(home / "cache"))
        patch.setenv("CNN_EXPLORER_DATA_HOME", str(home / "data-home"))
        start = time.perf_counter()
        raw = lesson.run(lambda fraction, _text: fractions.append(fraction), quick=True)
        print(f"quick {lesson.NAME} run: {time.perf_counter() - start:.2f} s")
    return raw, fractions
